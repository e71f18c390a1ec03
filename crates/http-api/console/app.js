// The Switchyard console: a small client-side app over the same HTTP API everyone
// uses, with the signed-in user's own tokens (kept in this tab's sessionStorage, never
// in a URL or a cookie). No framework and no build step: the files are embedded in the
// binary as they are.

const PAGE = 20;
const store = window.sessionStorage;

// ---- state ---------------------------------------------------------------------------
const session = {
  get access() { return store.getItem("sy.access"); },
  get refresh() { return store.getItem("sy.refresh"); },
  get domain() {
    const d = store.getItem("sy.domain");
    return d ? JSON.parse(d) : null;
  },
  set(tokens) {
    store.setItem("sy.access", tokens.access_token);
    store.setItem("sy.refresh", tokens.refresh_token);
  },
  setDomain(d) { store.setItem("sy.domain", JSON.stringify({ id: d.id, name: d.name })); },
  clear() { store.removeItem("sy.access"); store.removeItem("sy.refresh"); store.removeItem("sy.domain"); },
};
let me = null;

// ---- DOM helpers (text only: values never become markup) -----------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
let fieldSeq = 0;
function field(label, attrs = {}) {
  const id = `f${++fieldSeq}`;
  const tag = attrs.multiline ? "textarea" : "input";
  const input = h(tag, { id, name: attrs.name || label, ...attrs, multiline: undefined });
  return { input, el: h("label", { for: id }, label, input) };
}
function check(label, attrs = {}) {
  const input = h("input", { type: "checkbox", ...attrs });
  return { input, el: h("label", { class: "check" }, input, label) };
}
const pill = (status) => h("span", { class: `pill ${status}` }, status);
const isSet = (t) => Boolean(t) && !String(t).startsWith("0001");
const fmtTime = (t) => (isSet(t) ? new Date(t).toLocaleString() : "—");

// Errors from the API are shown with the API's own message.
function alertBox(msg) { return h("div", { class: "alert", role: "alert" }, msg); }
function notice(msg) { return h("div", { class: "notice", role: "status" }, msg); }
function showError(where, e) {
  where.querySelectorAll(":scope > .alert").forEach((a) => a.remove());
  where.prepend(alertBox(e.message || String(e)));
}

// A button that disables itself and shows progress while its action runs.
function action(label, fn, attrs = {}) {
  const b = h("button", { type: attrs.type || "button", class: attrs.class, "aria-label": attrs.label });
  b.textContent = label;
  b.addEventListener("click", async (ev) => {
    if (attrs.type === "submit") ev.preventDefault();
    if (attrs.confirm && !window.confirm(attrs.confirm)) return;
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
    const text = b.textContent;
    b.textContent = `${text}…`;
    try {
      await fn(b);
    } catch (e) {
      showError(attrs.errorsIn ? attrs.errorsIn() : main(), e);
    } finally {
      b.disabled = false;
      b.removeAttribute("aria-busy");
      b.textContent = text;
    }
  });
  return b;
}

// ---- API -----------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function refreshTokens() {
  const rt = session.refresh;
  if (!rt) return false;
  const r = await fetch("/users/tokens/refresh", { method: "POST", headers: { Authorization: `Bearer ${rt}` } });
  if (!r.ok) return false;
  session.set(await r.json());
  return true;
}

async function api(method, path, body, opts = {}) {
  const send = () => {
    const headers = { Authorization: `Bearer ${session.access}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let r = await send();
  if (r.status === 401 && !opts.noRefresh && (await refreshTokens())) r = await send();
  if (r.status === 401 && !opts.noRefresh) {
    session.clear();
    render();
    throw new ApiError(401, "Your session ended; sign in again.");
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) throw new ApiError(r.status, (data && data.message) || `${r.status} ${r.statusText}`);
  return data;
}
const d = () => session.domain && session.domain.id;
const qs = (o) => new URLSearchParams(Object.entries(o).filter(([, v]) => v !== "" && v !== undefined && v !== null)).toString();

// ---- layout --------------------------------------------------------------------------
const NAV = [
  ["Domains", "#/domains"],
  ["Clients", "#/clients"],
  ["Channels", "#/channels"],
  ["Groups", "#/groups"],
  ["Gateways", "#/gateways"],
  ["Messages", "#/messages"],
  ["Certificates", "#/certs"],
  ["Health", "#/health"],
];
const main = () => document.querySelector("main");

function shell() {
  const route = location.hash || "#/domains";
  const top = h("header", { class: "top" },
    h("span", { class: "brand" }, "Switchyard"),
    h("span", { class: "current-domain", "aria-live": "polite" },
      session.domain ? ["Domain: ", h("strong", {}, session.domain.name)] : h("span", { class: "muted" }, "No domain chosen")),
    h("div", { class: "who" },
      h("span", {}, "Signed in as ", h("strong", {}, me ? me.credentials?.username || me.email : "…")),
      action("Sign out", signOut)));
  const nav = h("nav", { class: "side", "aria-label": "Main" },
    h("ul", {}, NAV.map(([name, href]) =>
      h("li", {}, h("a", { href, "aria-current": route.startsWith(href) ? "page" : undefined }, name)))));
  return h("div", {}, top, h("div", { class: "layout" }, nav, h("main", { id: "main", tabindex: "-1" })));
}

// A JWT's claims (not verified: only to read the session id the server gave us).
function tokenClaims(t) {
  try {
    let b = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    while (b.length % 4) b += "=";
    return JSON.parse(atob(b));
  } catch {
    return {};
  }
}

async function signOut() {
  const rt = session.refresh;
  const sid = rt && tokenClaims(rt).jti;
  if (sid) {
    // End the refresh session on the server too (best effort): its id is the
    // refresh token's jti.
    await fetch("/users/tokens/revoke", {
      method: "POST",
      headers: { Authorization: `Bearer ${session.access}`, "Content-Type": "application/json" },
      body: JSON.stringify({ token_id: sid }),
    }).catch(() => {});
  }
  session.clear();
  me = null;
  location.hash = "#/";
  render();
}

function loginView() {
  const user = field("Username or email", { autocomplete: "username", required: true });
  const pass = field("Password", { type: "password", autocomplete: "current-password", required: true });
  const box = h("div", { class: "login" });
  const form = h("form", { class: "stack" }, user.el, pass.el);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  form.append(submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    box.querySelectorAll(".alert").forEach((a) => a.remove());
    submit.disabled = true;
    try {
      const r = await fetch("/users/tokens/issue", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: user.input.value.trim(), password: pass.input.value }),
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(body.message || `sign-in failed (${r.status})`);
      session.set(body);
      if (!location.hash || location.hash === "#/") location.hash = "#/domains";
      await render();
    } catch (e) {
      box.insertBefore(alertBox(e.message), form);
      pass.input.value = "";
      pass.input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  box.append(h("h1", {}, "Sign in to Switchyard"), form);
  return box;
}

// ---- router --------------------------------------------------------------------------
const routes = [
  [/^#\/domains$/, domainsPage],
  [/^#\/domains\/([\w-]+)$/, domainPage],
  [/^#\/clients$/, (m) => entitiesPage("clients", m)],
  [/^#\/clients\/([\w-]+)$/, (m, id) => entityPage("clients", id, m)],
  [/^#\/channels$/, (m) => entitiesPage("channels", m)],
  [/^#\/channels\/([\w-]+)$/, (m, id) => entityPage("channels", id, m)],
  [/^#\/groups$/, groupsPage],
  [/^#\/groups\/([\w-]+)$/, groupPage],
  [/^#\/gateways$/, gatewaysPage],
  [/^#\/gateways\/([\w-]+)$/, gatewayPage],
  [/^#\/messages$/, messagesPage],
  [/^#\/certs$/, certsPage],
  [/^#\/health$/, healthPage],
];
let closeLive = () => {};

async function render() {
  closeLive();
  const app = document.getElementById("app");
  if (!session.access) {
    app.replaceChildren(loginView());
    document.title = "Sign in · Switchyard";
    return;
  }
  if (!me) {
    try {
      me = await api("GET", "/users/profile");
    } catch {
      if (!session.access) return;
    }
  }
  if (!location.hash || location.hash === "#/") location.hash = "#/domains";
  app.replaceChildren(shell());
  const m = main();
  const hash = location.hash.split("?")[0];
  for (const [re, page] of routes) {
    const found = hash.match(re);
    if (found) {
      try {
        await page(m, found[1]);
      } catch (e) {
        showError(m, e);
      }
      const title = m.querySelector("h1");
      document.title = `${title ? title.textContent : "Console"} · Switchyard`;
      return;
    }
  }
  m.append(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/domains" }, "Go to domains")));
}

function needDomain(m) {
  if (d()) return false;
  m.append(h("p", {}, "Choose a domain first on the ", h("a", { href: "#/domains" }, "Domains"), " page."));
  return true;
}

// A paged table with its controls; `load(offset)` returns {total, items}.
function pagedTable(columns, row, load) {
  const wrap = h("div", {});
  let offset = 0;
  async function show() {
    const page = await load(offset);
    const body = h("tbody", {}, page.items.map(row));
    const table = h("div", { class: "table-wrap" },
      h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), body));
    const from = page.total === 0 ? 0 : offset + 1;
    const to = Math.min(offset + page.items.length, page.total);
    const prev = action("Previous", async () => { offset = Math.max(0, offset - PAGE); await show(); });
    const next = action("Next", async () => { offset += PAGE; await show(); });
    prev.disabled = offset === 0;
    next.disabled = to >= page.total;
    wrap.replaceChildren(table, h("div", { class: "bar" },
      h("span", { class: "muted", role: "status" }, page.total === 0 ? "Nothing here yet" : `${from}–${to} of ${page.total}`), prev, next));
  }
  return { el: wrap, show, reset() { offset = 0; return show(); } };
}

function parseTags(s) {
  return s.split(",").map((t) => t.trim()).filter(Boolean);
}
function parseJson(s, what) {
  if (!s.trim()) return undefined;
  try {
    const v = JSON.parse(s);
    if (typeof v !== "object" || Array.isArray(v) || v === null) throw new Error();
    return v;
  } catch {
    throw new Error(`${what} must be a JSON object, like {"floor": 2}`);
  }
}

// ---- domains -------------------------------------------------------------------------
async function domainsPage(m) {
  m.append(h("h1", {}, "Domains"));
  const errors = h("div", {});
  const createBox = h("div", {});
  const list = pagedTable(["Name", "Route", "Status", "Your role"], (x) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/domains/${x.id}`, onclick: () => session.setDomain(x) }, x.name)),
      h("td", {}, h("code", {}, x.route || "")), h("td", {}, pill(x.status)), h("td", {}, x.role_name || x.role || "")),
    async (offset) => {
      const r = await api("GET", `/domains?${qs({ offset, limit: PAGE })}`);
      return { total: r.total, items: r.domains || [] };
    });
  const newBtn = h("button", { type: "button", class: "primary", "aria-expanded": "false" }, "New domain");
  newBtn.addEventListener("click", () => {
    if (createBox.firstChild) { createBox.replaceChildren(); newBtn.setAttribute("aria-expanded", "false"); return; }
    newBtn.setAttribute("aria-expanded", "true");
    const name = field("Name", { required: true });
    const route = field("Route", { required: true, pattern: "[a-z0-9][a-z0-9_-]*" });
    const form = h("form", { class: "stack" }, name.el, route.el);
    form.append(action("Create", async () => {
      const x = await api("POST", "/domains", { name: name.input.value.trim(), route: route.input.value.trim() });
      createBox.replaceChildren(notice(`Domain ${x.name} created.`));
      newBtn.setAttribute("aria-expanded", "false");
      await list.reset();
    }, { class: "primary", type: "submit", errorsIn: () => createBox }));
    createBox.replaceChildren(form);
    name.input.focus();
  });
  m.append(errors, h("div", { class: "bar" }, newBtn), createBox, list.el);
  await list.show();

  // Invitations to the signed-in user.
  const inv = await api("GET", `/invitations?${qs({ limit: 100, state: "pending" })}`).catch(() => null);
  const pending = (inv && inv.invitations || []).filter((i) => !isSet(i.confirmed_at) && !isSet(i.rejected_at) && i.invitee_user_id === me?.id);
  if (pending.length) {
    m.append(h("h2", {}, "Your invitations"), h("table", {}, h("tbody", {}, pending.map((i) =>
      h("tr", {}, h("td", {}, i.domain_name || h("code", {}, i.domain_id)), h("td", {}, i.role_name || i.role_id || ""),
        h("td", {},
          action("Accept", async () => { await api("POST", "/invitations/accept", { domain_id: i.domain_id }); await render(); }, { label: `Accept invitation to ${i.domain_name || i.domain_id}` }),
          " ",
          action("Reject", async () => { await api("POST", "/invitations/reject", { domain_id: i.domain_id }); await render(); }, { class: "danger", label: `Reject invitation to ${i.domain_name || i.domain_id}` })))))));
  }
}

async function domainPage(m, id) {
  const x = await api("GET", `/domains/${id}`);
  session.setDomain(x);
  // The header shows the new current domain.
  document.querySelector(".current-domain").replaceChildren("Domain: ", h("strong", {}, x.name));
  m.append(h("h1", {}, x.name),
    h("dl", { class: "props" },
      h("dt", {}, "ID"), h("dd", {}, h("code", {}, x.id)),
      h("dt", {}, "Route"), h("dd", {}, h("code", {}, x.route || "")),
      h("dt", {}, "Status"), h("dd", {}, pill(x.status)),
      h("dt", {}, "Created"), h("dd", {}, fmtTime(x.created_at))),
    h("p", { class: "muted" }, "This is now the current domain: Clients, Channels, Groups and Gateways show its contents."));

  m.append(h("h2", {}, "Members"));
  const members = await api("GET", `/domains/${id}/roles/members?limit=100`).catch((e) => ({ error: e }));
  if (members.error) m.append(h("p", { class: "muted" }, members.error.message));
  else m.append(h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", {}, "Roles"))),
    h("tbody", {}, (members.members || []).map((mm) => h("tr", {},
      h("td", {}, h("code", {}, mm.member_id)),
      h("td", {}, (mm.roles || []).map((r) => r.role_name).join(", ")))))));

  m.append(h("h2", {}, "Invitations"));
  const box = h("div", {});
  const who = field("Username", { required: true });
  const role = h("select", { id: "inv-role" }, h("option", { value: "member" }, "member"), h("option", { value: "admin" }, "admin"));
  const form = h("form", { class: "inline" }, who.el, h("label", { for: "inv-role" }, "Role", role));
  form.append(action("Send invitation", async () => {
    const found = await api("GET", `/users/search?${qs({ username: who.input.value.trim(), limit: 1 })}`);
    const u = (found.users || [])[0];
    if (!u) throw new Error(`no user named ${who.input.value.trim()}`);
    await api("POST", `/domains/${id}/invitations`, { invitee_user_id: u.id, role_id: role.value });
    box.replaceChildren(notice(`Invitation sent to ${u.credentials?.username || u.id}.`));
    await showInvitations();
  }, { type: "submit", errorsIn: () => box }));
  const invList = h("div", {});
  async function showInvitations() {
    const r = await api("GET", `/domains/${id}/invitations?limit=100`);
    invList.replaceChildren(h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Invitee"), h("th", {}, "Role"), h("th", {}, "State"))),
      h("tbody", {}, (r.invitations || []).map((i) => h("tr", {},
        h("td", {}, h("code", {}, i.invitee_user_id)), h("td", {}, i.role_name || i.role_id || ""),
        h("td", {}, isSet(i.confirmed_at) ? "accepted" : isSet(i.rejected_at) ? "rejected" : "pending"))))));
  }
  m.append(box, form, invList);
  await showInvitations().catch((e) => invList.replaceChildren(h("p", { class: "muted" }, e.message)));
}

// ---- clients and channels ------------------------------------------------------------
const KIND = {
  clients: { one: "client", title: "Clients", key: "clients" },
  channels: { one: "channel", title: "Channels", key: "channels" },
};

async function entitiesPage(kind, m = main()) {
  const K = KIND[kind];
  m.append(h("h1", {}, K.title));
  if (needDomain(m)) return;
  const filters = { name: "", tags: "", status: "enabled", metadata: "" };
  const list = pagedTable(["Name", "ID", "Status", "Tags"], (x) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/${kind}/${x.id}` }, x.name || "(no name)")),
      h("td", {}, h("code", {}, x.id)), h("td", {}, pill(x.status)), h("td", {}, (x.tags || []).join(", "))),
    async (offset) => {
      const meta = filters.metadata ? JSON.stringify(parseJson(filters.metadata, "Metadata")) : "";
      const r = await api("GET", `/${d()}/${kind}?${qs({ offset, limit: PAGE, name: filters.name, tag: filters.tags, status: filters.status, metadata: meta })}`);
      return { total: r.total, items: r[K.key] || [] };
    });

  // Create, one or from a CSV file.
  const createBox = h("div", {});
  const newBtn = h("button", { type: "button", class: "primary", "aria-expanded": "false" }, `New ${K.one}`);
  newBtn.addEventListener("click", () => {
    if (createBox.firstChild) { createBox.replaceChildren(); newBtn.setAttribute("aria-expanded", "false"); return; }
    newBtn.setAttribute("aria-expanded", "true");
    const name = field("Name", { required: true });
    const tags = field("Tags (comma-separated)", { name: "tags" });
    const form = h("form", { class: "stack" }, name.el, tags.el);
    form.append(action("Create", async () => {
      const body = { name: name.input.value.trim(), tags: parseTags(tags.input.value) };
      const x = await api("POST", `/${d()}/${kind}`, body);
      createBox.replaceChildren(notice(`Created ${x.name}.`));
      newBtn.setAttribute("aria-expanded", "false");
      await list.reset();
    }, { class: "primary", type: "submit", errorsIn: () => createBox }));
    createBox.replaceChildren(form);
    name.input.focus();
  });

  const csvBox = h("div", {});
  const csvBtn = h("button", { type: "button", "aria-expanded": "false" }, "Create from CSV");
  csvBtn.addEventListener("click", () => {
    if (csvBox.firstChild) { csvBox.replaceChildren(); csvBtn.setAttribute("aria-expanded", "false"); return; }
    csvBtn.setAttribute("aria-expanded", "true");
    const file = field("CSV file (name,tags separated by ;)", { type: "file", accept: ".csv,text/csv" });
    const results = h("div", {});
    const form = h("form", { class: "stack" }, file.el);
    form.append(action("Create all", async () => {
      const f = file.input.files[0];
      if (!f) throw new Error("choose a CSV file first");
      const rows = (await f.text()).split(/\r?\n/).map((l) => l.trim()).filter(Boolean)
        .map((l) => l.split(",")).filter((c) => c[0] && c[0].toLowerCase() !== "name");
      if (!rows.length) throw new Error("the file has no rows");
      const items = rows.map((c) => ({ name: c[0].trim(), tags: (c[1] || "").split(";").map((t) => t.trim()).filter(Boolean) }));
      let made = [], failure = null;
      try {
        const r = await api("POST", `/${d()}/${kind}/bulk`, items);
        made = r[K.key] || [];
      } catch (e) {
        failure = e.message;
      }
      results.replaceChildren(h("table", {}, h("caption", {}, failure ? `Nothing was created: ${failure}` : `${made.length} created`),
        h("thead", {}, h("tr", {}, h("th", {}, "Row"), h("th", {}, "Name"), h("th", {}, "Result"))),
        h("tbody", {}, items.map((it, i) => h("tr", {}, h("td", {}, i + 1), h("td", {}, it.name),
          h("td", {}, failure ? "not created" : h("code", {}, made[i] ? made[i].id : "?")))))));
      await list.reset();
    }, { class: "primary", type: "submit", errorsIn: () => csvBox }));
    csvBox.replaceChildren(form, results);
  });

  const name = field("Name", { name: "filter-name", type: "search" });
  const tags = field("Tag", { name: "filter-tag" });
  const meta = field("Metadata (JSON)", { name: "filter-metadata", placeholder: '{"floor": 2}' });
  const status = h("select", { id: "filter-status" }, ["enabled", "disabled", "all"].map((s) => h("option", { value: s }, s)));
  const filterForm = h("form", { class: "inline", role: "search", "aria-label": `Filter ${kind}` },
    name.el, tags.el, meta.el, h("label", { for: "filter-status" }, "Status", status));
  filterForm.append(action("Filter", async () => {
    Object.assign(filters, { name: name.input.value.trim(), tags: tags.input.value.trim(), status: status.value, metadata: meta.input.value.trim() });
    await list.reset();
  }, { type: "submit" }));
  m.append(h("div", { class: "bar" }, newBtn, csvBtn), createBox, csvBox, filterForm, list.el);
  await list.show();
}

async function entityPage(kind, id, m = main()) {
  const K = KIND[kind];
  if (needDomain(m)) return;
  let x = await api("GET", `/${d()}/${kind}/${id}`);
  const heading = h("h1", {}, x.name || id);
  const props = h("dl", { class: "props" });
  function showProps() {
    heading.textContent = x.name || id;
    props.replaceChildren(
      h("dt", {}, "ID"), h("dd", {}, h("code", {}, x.id)),
      h("dt", {}, "Status"), h("dd", {}, pill(x.status)),
      h("dt", {}, "Tags"), h("dd", {}, (x.tags || []).join(", ") || "—"),
      h("dt", {}, "Metadata"), h("dd", {}, h("code", {}, JSON.stringify(x.metadata || {}))),
      h("dt", {}, "Parent group"), h("dd", {}, x.parent_group_id ? h("a", { href: `#/groups/${x.parent_group_id}` }, x.parent_group_id) : "—"),
      h("dt", {}, "Created"), h("dd", {}, fmtTime(x.created_at)));
    if (kind === "clients") props.append(h("dt", {}, "Secret"), h("dd", {}, secretView(x.credentials?.secret || "")));
  }
  showProps();
  const toggle = action(x.status === "enabled" ? "Disable" : "Enable", async (b) => {
    x = await api("POST", `/${d()}/${kind}/${id}/${x.status === "enabled" ? "disable" : "enable"}`);
    showProps();
    b.textContent = x.status === "enabled" ? "Disable" : "Enable";
  });
  const del = action("Delete", async () => {
    await api("DELETE", `/${d()}/${kind}/${id}`);
    location.hash = `#/${kind}`;
  }, { class: "danger", confirm: `Delete this ${K.one}? This cannot be undone.` });

  // Edit.
  const name = field("Name", { value: x.name || "" });
  const tags = field("Tags (comma-separated)", { name: "tags", value: (x.tags || []).join(", ") });
  const meta = field("Metadata (JSON)", { name: "metadata", multiline: true });
  meta.input.value = JSON.stringify(x.metadata || {}, null, 2);
  const editBox = h("div", {});
  const edit = h("form", { class: "stack" }, name.el, tags.el, meta.el);
  edit.append(action("Save", async () => {
    const metadata = parseJson(meta.input.value, "Metadata") || {};
    x = await api("PATCH", `/${d()}/${kind}/${id}`, { name: name.input.value.trim(), metadata });
    x = await api("PATCH", `/${d()}/${kind}/${id}/tags`, { tags: parseTags(tags.input.value) });
    showProps();
    editBox.replaceChildren(notice("Saved."));
  }, { class: "primary", type: "submit", errorsIn: () => editBox }));

  m.append(h("p", {}, h("a", { href: `#/${kind}` }, `← ${K.title}`)), heading, props, h("div", { class: "bar" }, toggle, del),
    h("h2", {}, "Edit"), editBox, edit);
  await parentControl(m, kind, id, x.parent_group_id);
  if (kind === "clients") await clientChannels(m, id);
  else await channelConnections(m, x);
  await rolesSection(m, kind, id);
}

function secretView(secret) {
  const span = h("code", { "aria-label": "Secret" }, "••••••••");
  let shown = false;
  const show = h("button", { type: "button" }, "Show secret");
  show.addEventListener("click", () => {
    shown = !shown;
    span.textContent = shown ? secret : "••••••••";
    show.textContent = shown ? "Hide secret" : "Show secret";
  });
  const copy = h("button", { type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(secret); copy.textContent = "Copied"; } catch { copy.textContent = "Copy failed"; }
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  return h("span", {}, span, " ", show, " ", copy);
}

async function clientChannels(m, id) {
  m.append(h("h2", {}, "Channels"));
  const r = await api("GET", `/${d()}/clients/${id}/channels?limit=100`);
  const chs = r.channels || [];
  m.append(chs.length ? h("table", {}, h("tbody", {}, chs.map((c) => h("tr", {}, h("td", {}, h("a", { href: `#/channels/${c.id}` }, c.name)), h("td", {}, h("code", {}, c.id))))))
    : h("p", { class: "muted" }, "Not connected to any channel."));
}

// Clients of the domain (first 100), for pickers.
async function domainClients() {
  const r = await api("GET", `/${d()}/clients?${qs({ limit: 100, status: "all" })}`);
  return r.clients || [];
}

async function connectedClients(ch) {
  const [pub, sub] = await Promise.all(["publish", "subscribe"].map((t) =>
    api("GET", `/${d()}/clients?${qs({ channel: ch, connection_type: t, limit: 100, status: "all" })}`)));
  const by = new Map();
  for (const [list, t] of [[pub.clients || [], "publish"], [sub.clients || [], "subscribe"]]) {
    for (const c of list) {
      const e = by.get(c.id) || { client: c, types: [] };
      e.types.push(t);
      by.set(c.id, e);
    }
  }
  return [...by.values()];
}

async function channelConnections(m, ch) {
  m.append(h("h2", {}, "Connected clients"));
  const box = h("div", {});
  const table = h("div", {});
  const live = h("div", {});
  async function show() {
    const rows = await connectedClients(ch.id);
    table.replaceChildren(rows.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Client"), h("th", {}, "Types"), h("th", {}, ""))),
        h("tbody", {}, rows.map((e) => h("tr", {},
          h("td", {}, h("a", { href: `#/clients/${e.client.id}` }, e.client.name)),
          h("td", {}, e.types.join(", ")),
          h("td", {}, action("Disconnect", async () => {
            await api("POST", `/${d()}/channels/${ch.id}/disconnect`, { client_ids: [e.client.id], types: e.types });
            await show();
          }, { class: "danger", label: `Disconnect ${e.client.name}` }))))))
      : h("p", { class: "muted" }, "No client is connected yet."));
    await liveMessages(live, ch, rows);
  }
  const dialog = h("dialog", { "aria-labelledby": "connect-title" });
  const open = h("button", { type: "button", class: "primary" }, "Connect clients");
  open.addEventListener("click", async () => {
    const clients = await domainClients().catch((e) => { showError(box, e); return null; });
    if (!clients) return;
    const checks = clients.map((c) => ({ c, box: check(c.name || c.id, { value: c.id }) }));
    const pub = check("Publish", { checked: true });
    const sub = check("Subscribe", { checked: true });
    const msg = h("div", {});
    const form = h("form", { method: "dialog" },
      h("h2", { id: "connect-title" }, `Connect clients to ${ch.name}`), msg,
      h("fieldset", {}, h("legend", {}, "Clients"), h("div", { class: "checks" }, checks.length ? checks.map((x) => x.box.el) : h("p", { class: "muted" }, "The domain has no clients yet."))),
      h("fieldset", {}, h("legend", {}, "Connection types"), pub.el, sub.el));
    const cancel = h("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", () => dialog.close());
    form.append(h("div", { class: "bar" }, action("Connect", async () => {
      const ids = checks.filter((x) => x.box.input.checked).map((x) => x.c.id);
      const types = [pub.input.checked && "publish", sub.input.checked && "subscribe"].filter(Boolean);
      if (!ids.length) throw new Error("choose at least one client");
      if (!types.length) throw new Error("choose Publish, Subscribe or both");
      await api("POST", `/${d()}/channels/${ch.id}/connect`, { client_ids: ids, types });
      dialog.close();
      await show();
    }, { class: "primary", type: "submit", errorsIn: () => msg }), cancel));
    dialog.replaceChildren(form);
    dialog.showModal();
  });
  m.append(box, h("div", { class: "bar" }, open), dialog, table, live);
  await show();
}

// Live messages over the message plane's WebSocket, as a subscribing client of the
// channel (the console has no back door: it uses one of the channel's clients).
async function liveMessages(where, ch, rows) {
  closeLive();
  const region = h("section", { "aria-label": "Live messages" }, h("h2", {}, "Live messages"));
  where.replaceChildren(region);
  const subs = rows.filter((e) => e.types.includes("subscribe") && e.client.status === "enabled");
  if (!subs.length) {
    region.append(h("p", { class: "muted" }, "Connect a client with Subscribe to watch this channel's messages."));
    return;
  }
  const list = h("ol", { class: "messages", "aria-live": "polite" });
  const state = h("p", { class: "muted", role: "status" }, "Connecting…");
  region.append(state, list);
  const c = await api("GET", `/${d()}/clients/${subs[0].client.id}`);
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const url = `${proto}://${location.host}/m/${d()}/c/${ch.id}?${qs({ authorization: c.credentials?.secret || "" })}`;
  let ws = new WebSocket(url);
  let closed = false;
  closeLive = () => { closed = true; try { ws.close(); } catch {} };
  ws.onopen = () => { state.textContent = `Listening as ${c.name}. Newest first.`; };
  ws.onclose = () => { if (!closed) state.textContent = "Disconnected."; };
  ws.onmessage = async (ev) => {
    const text = typeof ev.data === "string" ? ev.data : await ev.data.text();
    list.prepend(h("li", {}, h("time", {}, new Date().toLocaleTimeString()), text));
    while (list.children.length > 100) list.lastChild.remove();
  };
}

// ---- roles on an entity --------------------------------------------------------------
async function rolesSection(m, kind, id) {
  m.append(h("h2", {}, "Roles"));
  const box = h("div", {});
  m.append(box);
  const base = kind === "domains" ? `/domains/${id}` : `/${d()}/${kind}/${id}`;
  async function show() {
    const r = await api("GET", `${base}/roles?limit=100`);
    const roles = r.roles || [];
    const rows = await Promise.all(roles.map(async (role) => {
      const [acts, mem] = await Promise.all([
        api("GET", `${base}/roles/${role.id}/actions`).catch(() => ({ actions: [] })),
        api("GET", `${base}/roles/${role.id}/members?limit=100`).catch(() => ({ members: [] })),
      ]);
      const who = field("User ID", { name: `member-${role.id}` });
      const add = h("form", { class: "inline" }, who.el);
      add.append(action("Add member", async () => {
        await api("POST", `${base}/roles/${role.id}/members`, { members: [who.input.value.trim()] });
        await show();
      }, { type: "submit", label: `Add member to ${role.name}`, errorsIn: () => box }));
      return h("tr", {}, h("td", {}, role.name), h("td", {}, (acts.actions || []).join(", ")),
        h("td", {}, (mem.members || []).map((x) => h("div", {}, h("code", {}, x)))), h("td", {}, add));
    }));
    const name = field("Role name", { name: "role-name" });
    const acts = field("Actions (comma-separated)", { name: "role-actions", placeholder: "read, update" });
    const form = h("form", { class: "inline" }, name.el, acts.el);
    form.append(action("Create role", async () => {
      await api("POST", `${base}/roles`, { role_name: name.input.value.trim(), optional_actions: parseTags(acts.input.value) });
      await show();
    }, { type: "submit", errorsIn: () => box }));
    box.replaceChildren(h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Role"), h("th", {}, "Actions"), h("th", {}, "Members"), h("th", {}, ""))),
      h("tbody", {}, rows))), form);
  }
  await show().catch((e) => box.replaceChildren(h("p", { class: "muted" }, e.message)));
}

// A "Parent group" picker with Set/Remove, for a client, channel or group.
async function parentControl(m, kind, id, current) {
  const r = await api("GET", `/${d()}/groups?${qs({ limit: 100 })}`);
  const groups = (r.groups || []).filter((g) => g.id !== id);
  const box = h("div", {});
  const pick = h("select", { id: "parent-pick" }, h("option", { value: "" }, "(none)"),
    groups.map((g) => h("option", { value: g.id, selected: g.id === current ? true : undefined }, g.name)));
  const body = (gid) => (kind === "groups" ? { parent_id: gid } : { parent_group_id: gid });
  const form = h("form", { class: "inline" }, h("label", { for: "parent-pick" }, "Parent group", pick));
  form.append(action("Set parent", async () => {
    if (pick.value) await api("POST", `/${d()}/${kind}/${id}/parent`, body(pick.value));
    else if (current) await api("DELETE", `/${d()}/${kind}/${id}/parent`);
    await render();
  }, { type: "submit", errorsIn: () => box }));
  m.append(h("h2", {}, "Place in the group tree"), box, form);
}

// ---- groups --------------------------------------------------------------------------
async function groupsPage(m) {
  m.append(h("h1", {}, "Groups"));
  if (needDomain(m)) return;
  const r = await api("GET", `/${d()}/groups?${qs({ limit: 100 })}`);
  const groups = r.groups || [];
  const kids = new Map();
  for (const g of groups) {
    const p = g.parent_id || "";
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(g);
  }
  const ids = new Set(groups.map((g) => g.id));
  const tree = (parent) => h("ul", {}, (kids.get(parent) || []).map((g) =>
    h("li", {}, h("a", { href: `#/groups/${g.id}` }, g.name), kids.has(g.id) ? tree(g.id) : null)));
  // Groups whose parent is not listed are shown as roots.
  const roots = groups.filter((g) => !g.parent_id || !ids.has(g.parent_id));
  const box = h("div", {});
  const name = field("Name", { name: "group-name", required: true });
  const parent = h("select", { id: "group-parent" }, h("option", { value: "" }, "(none)"), groups.map((g) => h("option", { value: g.id }, g.name)));
  const form = h("form", { class: "inline" }, name.el, h("label", { for: "group-parent" }, "Parent", parent));
  form.append(action("Create group", async () => {
    await api("POST", `/${d()}/groups`, { name: name.input.value.trim(), parent_id: parent.value || undefined });
    await render();
  }, { class: "primary", type: "submit", errorsIn: () => box }));
  m.append(box, form, groups.length
    ? h("div", { class: "tree" }, h("ul", {}, roots.map((g) => h("li", {}, h("a", { href: `#/groups/${g.id}` }, g.name), kids.has(g.id) ? tree(g.id) : null))))
    : h("p", { class: "muted" }, "No groups yet."));
}

async function groupPage(m, id) {
  if (needDomain(m)) return;
  const g = await api("GET", `/${d()}/groups/${id}`);
  m.append(h("p", {}, h("a", { href: "#/groups" }, "← Groups")), h("h1", {}, g.name),
    h("dl", { class: "props" },
      h("dt", {}, "ID"), h("dd", {}, h("code", {}, g.id)),
      h("dt", {}, "Parent"), h("dd", {}, g.parent_id ? h("a", { href: `#/groups/${g.parent_id}` }, g.parent_id) : "—"),
      h("dt", {}, "Status"), h("dd", {}, pill(g.status))));
  const r = await api("GET", `/${d()}/clients?${qs({ group: id, limit: 100 })}`);
  await parentControl(m, "groups", id, g.parent_id);
  m.append(h("h2", {}, "Clients in this group"), (r.clients || []).length
    ? h("ul", {}, r.clients.map((c) => h("li", {}, h("a", { href: `#/clients/${c.id}` }, c.name))))
    : h("p", { class: "muted" }, "None."));
  await rolesSection(m, "groups", id);
}

// ---- gateways (Provision and Bootstrap) ----------------------------------------------
async function gatewaysPage(m) {
  m.append(h("h1", {}, "Gateways"));
  if (needDomain(m)) return;
  const box = h("div", {});
  const newBtn = h("button", { type: "button", class: "primary", "aria-expanded": "false" }, "New gateway");
  const list = pagedTable(["Name", "External ID", "Client", "State"], (c) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/gateways/${c.client_id}` }, c.name || "(no name)")),
      h("td", {}, h("code", {}, c.external_id)),
      h("td", {}, h("a", { href: `#/clients/${c.client_id}` }, h("code", {}, c.client_id))),
      h("td", {}, c.state === 1 ? "active" : "inactive")),
    async (offset) => {
      const r = await api("GET", `/${d()}/clients/configs?${qs({ offset, limit: PAGE })}`);
      return { total: r.total, items: r.configs || [] };
    });
  newBtn.addEventListener("click", () => {
    if (box.firstChild) { box.replaceChildren(); newBtn.setAttribute("aria-expanded", "false"); return; }
    newBtn.setAttribute("aria-expanded", "true");
    const name = field("Name", { required: true });
    const ext = field("External ID", { name: "external_id", required: true });
    const key = field("External key", { name: "external_key", required: true });
    const result = h("div", {});
    const form = h("form", { class: "stack" }, name.el, ext.el, key.el);
    form.append(action("Provision", async () => {
      const r = await api("POST", `/${d()}/mapping`, { name: name.input.value.trim(), external_id: ext.input.value.trim(), external_key: key.input.value });
      result.replaceChildren(notice("Provisioned."),
        h("h2", {}, "Created clients"), h("ul", {}, (r.clients || []).map((c) => h("li", {}, h("a", { href: `#/clients/${c.id}` }, c.name), " ", h("code", {}, c.id)))),
        h("h2", {}, "Created channels"), h("ul", {}, (r.channels || []).map((c) => h("li", {}, h("a", { href: `#/channels/${c.id}` }, c.name), " ", h("code", {}, c.id)))));
      newBtn.setAttribute("aria-expanded", "false");
      await list.reset();
    }, { class: "primary", type: "submit", errorsIn: () => box }));
    box.replaceChildren(form, result);
    name.input.focus();
  });
  m.append(h("p", { class: "muted" }, "Provisioning a gateway creates its client, its channels and connections, and the configuration it fetches at boot (Bootstrap)."),
    h("div", { class: "bar" }, newBtn), box, list.el);
  await list.show();
}

async function gatewayPage(m, id) {
  if (needDomain(m)) return;
  let c = await api("GET", `/${d()}/clients/configs/${id}`);
  const props = h("dl", { class: "props" });
  const stateBtn = action("", async () => {
    await api("PUT", `/${d()}/clients/state/${id}`, { state: c.state === 1 ? 0 : 1 });
    c = await api("GET", `/${d()}/clients/configs/${id}`);
    show();
  });
  function show() {
    props.replaceChildren(
      h("dt", {}, "External ID"), h("dd", {}, h("code", {}, c.external_id)),
      h("dt", {}, "Client"), h("dd", {}, h("a", { href: `#/clients/${c.client_id}` }, h("code", {}, c.client_id))),
      h("dt", {}, "State"), h("dd", {}, c.state === 1 ? "active (whitelisted)" : "inactive"),
      h("dt", {}, "Content"), h("dd", {}, h("code", {}, c.content || "—")),
      h("dt", {}, "Channels"), h("dd", {}, (c.channels || []).map((ch) => h("div", {}, h("a", { href: `#/channels/${ch.id || ch}` }, ch.name || ch.id || ch)))));
    stateBtn.textContent = c.state === 1 ? "Deactivate" : "Whitelist (activate)";
  }
  show();
  m.append(h("p", {}, h("a", { href: "#/gateways" }, "← Gateways")), h("h1", {}, c.name || c.external_id), props, h("div", { class: "bar" }, stateBtn));
}

// ---- messages ------------------------------------------------------------------------
async function messagesPage(m) {
  m.append(h("h1", {}, "Messages"));
  if (needDomain(m)) return;
  const r = await api("GET", `/${d()}/channels?${qs({ limit: 100 })}`);
  const chs = r.channels || [];
  if (!chs.length) {
    m.append(h("p", { class: "muted" }, "No channels yet."));
    return;
  }
  const pick = h("select", { id: "msg-channel" }, chs.map((c) => h("option", { value: c.id }, c.name)));
  const live = h("div", {});
  const pubBox = h("div", {});
  async function choose() {
    const ch = chs.find((c) => c.id === pick.value);
    const rows = await connectedClients(ch.id);
    await liveMessages(live, ch, rows);
    const pubs = rows.filter((e) => e.types.includes("publish"));
    if (!pubs.length) {
      pubBox.replaceChildren(h("p", { class: "muted" }, "Connect a client with Publish to send from here."));
      return;
    }
    const as = h("select", { id: "msg-as" }, pubs.map((e) => h("option", { value: e.client.id }, e.client.name)));
    const payload = field("Payload", { name: "payload", multiline: true });
    payload.input.value = '[{"n":"temperature","v":21.5}]';
    const form = h("form", { class: "stack" }, h("label", { for: "msg-as" }, "As client", as), payload.el);
    form.append(action("Publish", async () => {
      const c = await api("GET", `/${d()}/clients/${as.value}`);
      const res = await fetch(`/m/${d()}/c/${ch.id}`, {
        method: "POST",
        headers: { Authorization: `Client ${c.credentials?.secret}`, "Content-Type": "application/senml+json" },
        body: payload.input.value,
      });
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || `publish failed (${res.status})`);
    }, { class: "primary", type: "submit", errorsIn: () => pubBox }));
    pubBox.replaceChildren(h("h2", {}, "Publish"), form);
  }
  pick.addEventListener("change", () => choose().catch((e) => showError(m, e)));
  m.append(h("label", { for: "msg-channel" }, "Channel", pick), pubBox, live);
  await choose();
}

// ---- certificates --------------------------------------------------------------------
async function certsPage(m) {
  m.append(h("h1", {}, "Certificates"));
  if (needDomain(m)) return;
  const box = h("div", {});
  const list = pagedTable(["Serial", "Client", "Expires", "Status", ""], (c) =>
    h("tr", {},
      h("td", {}, h("code", {}, c.serial_number || c.id)),
      h("td", {}, h("a", { href: `#/clients/${c.entity_id || c.client_id}` }, h("code", {}, c.entity_id || c.client_id || ""))),
      h("td", {}, fmtTime(c.expiry_time || c.expires_at)),
      h("td", {}, c.revoked ? "revoked" : "valid"),
      h("td", {},
        action("Download", async () => {
          const full = await api("GET", `/${d()}/certs/${c.serial_number || c.id}`);
          const blob = new Blob([full.certificate || ""], { type: "application/x-pem-file" });
          const a = h("a", { href: URL.createObjectURL(blob), download: `${c.serial_number || c.id}.pem` });
          document.body.append(a); a.click(); a.remove();
        }, { label: `Download ${c.serial_number || c.id}` }),
        " ",
        c.revoked ? null : action("Revoke", async () => {
          await api("PATCH", `/${d()}/certs/${c.serial_number || c.id}/revoke`);
          await list.show();
        }, { class: "danger", label: `Revoke ${c.serial_number || c.id}`, confirm: "Revoke this certificate?" }))),
    async (offset) => {
      const r = await api("GET", `/${d()}/certs?${qs({ offset, limit: PAGE })}`);
      return { total: r.total, items: r.certificates || r.certs || [] };
    });
  const clients = await domainClients();
  const who = h("select", { id: "cert-client" }, clients.map((c) => h("option", { value: c.id }, c.name)));
  const ttl = field("Valid for", { name: "ttl", value: "8760h" });
  const form = h("form", { class: "inline" }, h("label", { for: "cert-client" }, "Client", who), ttl.el);
  form.append(action("Issue certificate", async () => {
    await api("POST", `/${d()}/certs/issue/${who.value}`, { ttl: ttl.input.value.trim() });
    box.replaceChildren(notice("Certificate issued."));
    await list.reset();
  }, { class: "primary", type: "submit", errorsIn: () => box }));
  m.append(box, clients.length ? form : h("p", { class: "muted" }, "Create a client first."), list.el);
  await list.show();
}

// ---- health --------------------------------------------------------------------------
async function healthPage(m) {
  m.append(h("h1", {}, "Health"));
  const r = await fetch("/health");
  const hj = await r.json();
  const up = hj.uptime_seconds || 0;
  const uptime = up >= 86400 ? `${Math.floor(up / 86400)} d ${Math.floor((up % 86400) / 3600)} h` : up >= 3600 ? `${Math.floor(up / 3600)} h ${Math.floor((up % 3600) / 60)} min` : `${Math.floor(up / 60)} min ${up % 60} s`;
  m.append(h("dl", { class: "props" },
    h("dt", {}, "Status"), h("dd", {}, hj.status),
    h("dt", {}, "Version"), h("dd", {}, hj.version + (hj.commit ? ` (${hj.commit})` : "")),
    h("dt", {}, "Store"), h("dd", {}, hj.store || "—"),
    h("dt", {}, "Bus"), h("dd", {}, hj.bus || "—"),
    h("dt", {}, "Uptime"), h("dd", {}, uptime),
    h("dt", {}, "Instance"), h("dd", {}, h("code", {}, hj.instance_id))));
  const mr = await fetch("/metrics");
  if (!mr.ok) {
    m.append(h("p", { class: "muted" }, "Counters are behind a metrics token on this server."));
    return;
  }
  const sums = new Map();
  for (const line of (await mr.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const mm = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+eE.\d]+|NaN|\+Inf)/);
    if (!mm) continue;
    const v = Number(mm[3]);
    if (Number.isFinite(v)) sums.set(mm[1], (sums.get(mm[1]) || 0) + v);
  }
  const wanted = [
    ["http_requests_total", "HTTP requests"],
    ["switchyard_messages_in_total", "Messages in"],
    ["switchyard_messages_out_total", "Messages out"],
    ["switchyard_mqtt_connections", "MQTT connections"],
    ["switchyard_mqtt_connections_total", "MQTT connects"],
    ["switchyard_http_connections_refused_total", "HTTP connections refused"],
  ];
  const shown = wanted.filter(([k]) => sums.has(k));
  const rest = [...sums.keys()].filter((k) => k.startsWith("switchyard_") && !wanted.some(([w]) => w === k)).sort().slice(0, 12);
  m.append(h("h2", {}, "Counters"), h("div", { class: "kpis" },
    [...shown.map(([k, label]) => [label, sums.get(k)]), ...rest.map((k) => [k, sums.get(k)])]
      .map(([label, v]) => h("div", {}, h("strong", {}, Math.round(v).toLocaleString()), label))));
}

// ---- start ---------------------------------------------------------------------------
window.addEventListener("hashchange", () => render());
render();
