// Compatibility check: the official Magistrala JS SDK (@absmach/magistrala-sdk 0.17.x)
// driven against a running Switchyard server.
//
//   SWITCHYARD_URL=http://127.0.0.1:9311 node sdk.test.mjs
//
// One line per step: `PASS <method>` or `FAIL <method>: <reason>`; the last line is
// `N passed, M failed` and the exit code is non-zero when M > 0.
// Each FAIL line carries the last HTTP exchange the SDK made (method, URL, status, body),
// recorded by a pass-through wrapper around the global fetch the SDK uses.

import sdkModule from "@absmach/magistrala-sdk";

const SDK = sdkModule.default ?? sdkModule; // the package ships CJS as "main"
const BASE = (process.env.SWITCHYARD_URL || "http://127.0.0.1:9311").replace(/\/+$/, "");

const sdk = new SDK({
  usersUrl: BASE,
  domainsUrl: BASE,
  clientsUrl: BASE,
  channelsUrl: BASE,
  groupsUrl: BASE,
  certsUrl: BASE,
  bootstrapUrl: BASE,
  readersUrl: BASE,
  httpAdapterUrl: BASE,
  journalUrl: BASE,
  authUrl: BASE,
});

// ---- record every exchange (does not change what the SDK sees) --------------------
let last = null;
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, opts = {}) => {
  const ex = { method: opts.method || "GET", url: String(url), body: opts.body };
  last = ex;
  const res = await realFetch(url, opts);
  ex.status = res.status;
  try {
    ex.text = await res.clone().text();
  } catch (e) {
    ex.text = `<unreadable: ${e.message}>`;
  }
  return res;
};

const short = (s, n = 300) => {
  if (s === undefined || s === null) return "";
  s = String(s);
  return s.length > n ? `${s.slice(0, n)}...` : s;
};
const describeErr = (e) => {
  if (e && typeof e === "object" && "status" in e && "error" in e) {
    return `SDK error status=${e.status} message=${JSON.stringify(e.error)}`;
  }
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return JSON.stringify(e);
};
const exchange = () =>
  last
    ? ` [sent ${last.method} ${last.url.replace(BASE, "")}${last.body ? ` body=${short(last.body, 160)}` : ""}` +
      ` -> ${last.status ?? "no response"} body=${JSON.stringify(short(last.text ?? "", 200))}]`
    : "";

let passed = 0;
let failed = 0;
async function step(name, fn) {
  last = null;
  try {
    const r = await fn();
    passed += 1;
    console.log(`PASS ${name}`);
    return r;
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${describeErr(e)}${exchange()}`);
    return undefined;
  }
}
function check(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
function need(...vals) {
  if (vals.some((v) => v === undefined || v === null)) {
    throw new Error("skipped: a prerequisite step failed");
  }
}
const ids = (arr) => (arr || []).map((x) => x.id);

// ---- data ------------------------------------------------------------------------
const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const username = `sdk${run}`.slice(0, 30);
const password = "sdk-pass-12345";
const newUser = {
  first_name: "Sdk",
  last_name: "Tester",
  email: `${username}@example.com`,
  credentials: { username, secret: password },
  status: "enabled",
};

// ---- users -----------------------------------------------------------------------
// Self-registration: the SDK always sends `Authorization: Bearer ${token}`; a caller
// who has no token yet omits it, so the header is `Bearer undefined`.
let user = await step("Users.Create", async () => {
  const u = await sdk.Users.Create(newUser);
  check(u && u.id, "user id returned");
  check(u.email === newUser.email, `email echoed (${u.email})`);
  check(u.credentials?.username === username, "credentials.username echoed");
  check(u.credentials?.secret === undefined, "secret not returned");
  return u;
});
if (!user) {
  // Keep the rest of the run meaningful: retry with an empty bearer.
  user = await step("Users.Create (token \"\")", async () => {
    const u = await sdk.Users.Create(newUser, "");
    check(u && u.id, "user id returned");
    return u;
  });
}

const tok = await step("Users.CreateToken", async () => {
  const t = await sdk.Users.CreateToken({ username, password });
  check(typeof t?.access_token === "string" && t.access_token.length > 0, "access_token");
  check(typeof t?.refresh_token === "string" && t.refresh_token.length > 0, "refresh_token");
  return t;
});
const token = tok?.access_token;

await step("Users.UserProfile", async () => {
  need(token, user);
  const p = await sdk.Users.UserProfile(token);
  check(p.id === user.id, `profile id ${p.id} == ${user.id}`);
  check(p.email === newUser.email, "profile email");
  return p;
});

// ---- domains ---------------------------------------------------------------------
const domainRoute = `sdk-${run}`.slice(0, 36);
const domain = await step("Domains.CreateDomain", async () => {
  need(token);
  const d = await sdk.Domains.CreateDomain(
    { name: `SDK domain ${run}`, route: domainRoute, tags: ["sdk"], metadata: { purpose: "sdk-test" } },
    token,
  );
  check(d && d.id, "domain id");
  check(d.route === domainRoute, `route echoed (${d.route})`);
  return d;
});
const dom = domain?.id;

await step("Domains.Domain", async () => {
  need(token, dom);
  const d = await sdk.Domains.Domain(dom, token);
  check(d.id === dom, "same id");
  check(d.name === domain.name, "same name");
  return d;
});

await step("Domains.Domains", async () => {
  need(token, dom);
  const page = await sdk.Domains.Domains({ offset: 0, limit: 10 }, token);
  check(ids(page.domains).includes(dom), "created domain listed");
  check(page.total >= 1, `total ${page.total}`);
  return page;
});

// ---- clients ---------------------------------------------------------------------
const client = await step("Clients.CreateClient", async () => {
  need(token, dom);
  const c = await sdk.Clients.CreateClient(
    { name: `sensor-${run}`, tags: ["alpha", "beta"], metadata: { location: "lab", model: { rev: 2 } }, status: "enabled" },
    dom,
    token,
  );
  check(c && c.id, "client id");
  check(typeof c.credentials?.secret === "string" && c.credentials.secret.length > 0, "generated secret");
  check(c.name === `sensor-${run}`, "name echoed");
  check(c.status === "enabled", "status enabled");
  return c;
});

const bulk = await step("Clients.CreateClients", async () => {
  need(token, dom);
  const r = await sdk.Clients.CreateClients(
    [
      { name: `bulk-a-${run}`, tags: ["bulk"], metadata: { batch: 1 } },
      { name: `bulk-b-${run}`, tags: ["bulk", "beta"], metadata: { batch: 1 } },
    ],
    dom,
    token,
  );
  check(Array.isArray(r.clients) && r.clients.length === 2, "two clients returned");
  check(r.clients.every((c) => c.id && c.credentials?.secret), "ids and secrets");
  return r.clients;
});

const listClients = (label, params, verify) =>
  step(`Clients.Clients(${label})`, async () => {
    need(token, dom, client, bulk);
    const page = await sdk.Clients.Clients(params, dom, token);
    verify(page, ids(page.clients));
    return page;
  });

await listClients("offset,limit", { offset: 0, limit: 10 }, (p, got) => {
  check(p.total === 3, `total 3, got ${p.total}`);
  check(got.length === 3, `3 items, got ${got.length}`);
});
await listClients("offset=1,limit=1", { offset: 1, limit: 1 }, (p, got) => {
  check(p.total === 3, `total 3, got ${p.total}`);
  check(got.length === 1, `1 item, got ${got.length}`);
});
await listClients("name", { name: `bulk-` }, (p, got) => {
  check(got.length === 2 && bulk.every((c) => got.includes(c.id)), `bulk clients only, got ${got.length}`);
});
// PageMetadata types `metadata` as an object, but the SDK stringifies every value with
// String(), so an object would go out as "[object Object]"; pass the JSON text instead.
await listClients("metadata", { metadata: JSON.stringify({ model: { rev: 2 } }) }, (p, got) => {
  check(got.length === 1 && got[0] === client.id, `only the first client, got ${JSON.stringify(got)}`);
});
await listClients("tags any", { tags: "alpha,bulk" }, (p, got) => {
  check(got.length === 3, `3 with alpha or bulk, got ${got.length}`);
});
await listClients("tags all", { tags: "bulk+beta" }, (p, got) => {
  check(got.length === 1 && got[0] === bulk[1].id, `only bulk-b, got ${JSON.stringify(got)}`);
});
await listClients("status", { status: "disabled" }, (p, got) => {
  check(got.length === 0, `no disabled clients yet, got ${got.length}`);
});

await step("Clients.Client", async () => {
  need(token, dom, client);
  const c = await sdk.Clients.Client(client.id, dom, token);
  check(c.id === client.id && c.name === client.name, "same id/name");
  check(c.metadata?.location === "lab", "metadata");
  return c;
});

await step("Clients.UpdateClient", async () => {
  need(token, dom, client);
  const c = await sdk.Clients.UpdateClient(
    { id: client.id, name: `sensor-renamed-${run}`, metadata: { location: "roof" } },
    dom,
    token,
  );
  check(c.name === `sensor-renamed-${run}`, `name updated (${c.name})`);
  check(c.metadata?.location === "roof", "metadata updated");
  return c;
});

await step("Clients.UpdateClientTags", async () => {
  need(token, dom, client);
  const c = await sdk.Clients.UpdateClientTags({ id: client.id, tags: ["gamma", "delta"] }, dom, token);
  check(JSON.stringify(c.tags) === JSON.stringify(["gamma", "delta"]), `tags updated (${JSON.stringify(c.tags)})`);
  return c;
});

const newSecret = `secret-${run}`;
await step("Clients.UpdateClientSecret", async () => {
  need(token, dom, client);
  const c = await sdk.Clients.UpdateClientSecret({ id: client.id, credentials: { secret: newSecret } }, dom, token);
  check(c.id === client.id, "same id");
  check(c.credentials?.secret === newSecret, `secret updated (${c.credentials?.secret})`);
  return c;
});

await step("Clients.Disable", async () => {
  need(token, dom, client);
  const c = await sdk.Clients.Disable(client.id, dom, token);
  check(c.status === "disabled", `status disabled (${c.status})`);
  const page = await sdk.Clients.Clients({ status: "disabled" }, dom, token);
  check(ids(page.clients).includes(client.id), "listed with status=disabled");
  return c;
});

await step("Clients.Enable", async () => {
  need(token, dom, client);
  const c = await sdk.Clients.Enable(client.id, dom, token);
  check(c.status === "enabled", `status enabled (${c.status})`);
  return c;
});

// ---- channels --------------------------------------------------------------------
const channel = await step("Channels.CreateChannel", async () => {
  need(token, dom);
  const ch = await sdk.Channels.CreateChannel(
    { name: `chan-${run}`, route: `chan${run}`.slice(0, 30), tags: ["t1"], metadata: { floor: 3 } },
    dom,
    token,
  );
  check(ch && ch.id, "channel id");
  check(ch.name === `chan-${run}`, "name echoed");
  return ch;
});

const bulkCh = await step("Channels.CreateChannels", async () => {
  need(token, dom);
  const r = await sdk.Channels.CreateChannels(
    [{ name: `bulkch-a-${run}` }, { name: `bulkch-b-${run}`, metadata: { x: 1 } }],
    dom,
    token,
  );
  check(Array.isArray(r.channels) && r.channels.length === 2, "two channels returned");
  return r.channels;
});

await step("Channels.Channels", async () => {
  need(token, dom, channel, bulkCh);
  const all = await sdk.Channels.Channels({ offset: 0, limit: 10 }, dom, token);
  check(all.total === 3, `total 3, got ${all.total}`);
  const byName = await sdk.Channels.Channels({ name: "bulkch-" }, dom, token);
  check(byName.channels?.length === 2, `name filter -> 2, got ${byName.channels?.length}`);
  const byMeta = await sdk.Channels.Channels({ metadata: JSON.stringify({ floor: 3 }) }, dom, token);
  check(ids(byMeta.channels).join() === channel.id, "metadata filter");
  return all;
});

await step("Channels.Channel", async () => {
  need(token, dom, channel);
  const ch = await sdk.Channels.Channel(channel.id, dom, token);
  check(ch.id === channel.id && ch.name === channel.name, "same id/name");
  return ch;
});

await step("Channels.UpdateChannelNameAndMetadata", async () => {
  need(token, dom, channel);
  const ch = await sdk.Channels.UpdateChannelNameAndMetadata(
    { id: channel.id, name: `chan-renamed-${run}`, metadata: { floor: 4 } },
    dom,
    token,
  );
  check(ch.name === `chan-renamed-${run}`, `name updated (${ch.name})`);
  check(ch.metadata?.floor === 4, "metadata updated");
  return ch;
});

await step("Channels.UpdateChannelTags", async () => {
  need(token, dom, channel);
  const ch = await sdk.Channels.UpdateChannelTags({ id: channel.id, tags: ["t2"] }, dom, token);
  check(JSON.stringify(ch.tags) === '["t2"]', `tags updated (${JSON.stringify(ch.tags)})`);
  return ch;
});

await step("Channels.DisableChannel", async () => {
  need(token, dom, channel);
  const ch = await sdk.Channels.DisableChannel(channel.id, dom, token);
  check(ch.status === "disabled", `status disabled (${ch.status})`);
  return ch;
});

await step("Channels.EnableChannel", async () => {
  need(token, dom, channel);
  const ch = await sdk.Channels.EnableChannel(channel.id, dom, token);
  check(ch.status === "enabled", `status enabled (${ch.status})`);
  return ch;
});

// ---- connections -----------------------------------------------------------------
const connectedClients = async (chId, type) => {
  const params = { channel: chId };
  if (type) params.connection_type = type;
  return ids((await sdk.Clients.Clients(params, dom, token)).clients);
};
const connectedChannels = async (clId) => ids((await sdk.Channels.Channels({ client: clId }, dom, token)).channels);

await step("Channels.ConnectClient", async () => {
  need(token, dom, client, bulk, channel);
  const r = await sdk.Channels.ConnectClient([client.id, bulk[0].id], channel.id, ["publish", "subscribe"], dom, token);
  check(r.status === 201, `status 201 (${r.status})`);
  const got = await connectedClients(channel.id);
  check(got.length === 2 && got.includes(client.id) && got.includes(bulk[0].id), `clients?channel= lists both (${got})`);
  check((await connectedChannels(client.id)).includes(channel.id), "channels?client= lists the channel");
  return r;
});

await step("Channels.DisconnectClient", async () => {
  need(token, dom, client, bulk, channel);
  const r = await sdk.Channels.DisconnectClient([bulk[0].id], channel.id, ["publish", "subscribe"], dom, token);
  check(r.status === 204, `status 204 (${r.status})`);
  const got = await connectedClients(channel.id);
  check(got.length === 1 && got[0] === client.id, `only the first client left (${got})`);
  return r;
});

await step("Channels.Connect", async () => {
  need(token, dom, bulk, bulkCh);
  const r = await sdk.Channels.Connect(ids(bulk), ids(bulkCh), ["publish"], dom, token);
  check(r.status === 201, `status 201 (${r.status})`);
  for (const ch of bulkCh) {
    const got = await connectedClients(ch.id, "publish");
    check(got.length === 2, `channel ${ch.id} has 2 publish clients (${got})`);
  }
  const sub = await connectedClients(bulkCh[0].id, "subscribe");
  check(sub.length === 0, `no subscribe connections (${sub})`);
  return r;
});

// The SDK posts to m/{domain}/c/{channel}/{subtopic}: a trailing slash without one.
for (const [label, topic] of [
  ["no subtopic", () => bulkCh[0].id],
  ["subtopic", () => `${bulkCh[0].id}.temp.room1`],
]) {
  await step(`Messages.Send(${label})`, async () => {
    need(dom, bulk, bulkCh);
    const secret = bulk[0].credentials.secret;
    const r = await sdk.Messages.Send(dom, topic(), '[{"bn":"demo","n":"v","v":5}]', secret);
    check(r.status === 202, `status 202 (${r.status})`);
    return r;
  });
}

await step("Channels.Disconnect", async () => {
  need(token, dom, bulk, bulkCh);
  const r = await sdk.Channels.Disconnect(ids(bulk), ids(bulkCh), ["publish"], dom, token);
  check(r.status === 204, `status 204 (${r.status})`);
  for (const ch of bulkCh) {
    const got = await connectedClients(ch.id);
    check(got.length === 0, `channel ${ch.id} has no clients (${got})`);
  }
  return r;
});

// ---- helpers for the sections below ----------------------------------------------
const expect404 = async (fn, what) => {
  try {
    await fn();
  } catch (e) {
    check(e?.status === 404, `${what}: expected 404, got ${describeErr(e)}`);
    return;
  }
  throw new Error(`${what} still readable (expected 404)`);
};
const sameSet = (a, b) => JSON.stringify([...(a || [])].sort()) === JSON.stringify([...(b || [])].sort());
// RetrieveGroupHierarchy with tree=true nests groups under `children`; flatten to ids.
const flatIds = (groups) => (groups || []).flatMap((g) => [g.id, ...flatIds(g.children)]);
const findGroup = (groups, id) => {
  for (const g of groups || []) {
    if (g.id === id) return g;
    const f = findGroup(g.children, id);
    if (f) return f;
  }
  return undefined;
};
const parentOf = (g) => (g?.parent_id && typeof g.parent_id === "object" ? g.parent_id.id : g?.parent_id) || "";

// ---- second user, invited into the domain -----------------------------------------
const username2 = `sdk2${run}`.slice(0, 30);
const user2 = await step("Users.Create(second user)", async () => {
  const u = await sdk.Users.Create({
    first_name: "Sdk",
    last_name: "Member",
    email: `${username2}@example.com`,
    credentials: { username: username2, secret: password },
    status: "enabled",
  });
  check(u && u.id, "user id returned");
  return u;
});
const token2 = (
  await step("Users.CreateToken(second user)", async () => {
    need(user2);
    const t = await sdk.Users.CreateToken({ username: username2, password });
    check(typeof t?.access_token === "string" && t.access_token.length > 0, "access_token");
    return t;
  })
)?.access_token;

await step("Domains.SendInvitation", async () => {
  need(token, dom, user2);
  const r = await sdk.Domains.SendInvitation(user2.id, dom, "member", token);
  check(r.status === 201, `status 201 (${r.status})`);
  return r;
});

const member2 = await step("Domains.AcceptInvitation", async () => {
  need(token2, dom);
  const r = await sdk.Domains.AcceptInvitation(dom, token2);
  check(r.status === 204, `status 204 (${r.status})`);
  const page = await sdk.Domains.Domains({ offset: 0, limit: 10 }, token2);
  check(ids(page.domains).includes(dom), "the domain is listed for the invitee");
  return user2.id;
});

// ---- groups ----------------------------------------------------------------------
const mkGroup = (label, body) =>
  step(`Groups.CreateGroup(${label})`, async () => {
    need(token, dom);
    const g = await sdk.Groups.CreateGroup(body, dom, token);
    check(g && g.id, "group id");
    check(g.name === body.name, `name echoed (${g.name})`);
    check(parentOf(g) === (body.parent_id || ""), `parent_id ${JSON.stringify(g.parent_id)} == ${body.parent_id || "none"}`);
    return g;
  });
const gRoot = await mkGroup("root", {
  name: `grp-root-${run}`,
  description: "root group",
  tags: ["g"],
  metadata: { level: "top" },
});
const gChild = gRoot ? await mkGroup("child", { name: `grp-child-${run}`, parent_id: gRoot.id }) : undefined;
const gOther = await mkGroup("second root", { name: `grp-other-${run}` });
const gLeaf = await mkGroup("third root", { name: `grp-leaf-${run}` });

await step("Groups.Group", async () => {
  need(token, dom, gRoot, gChild);
  const g = await sdk.Groups.Group(gChild.id, dom, token);
  check(g.id === gChild.id && g.name === gChild.name, "same id/name");
  check(parentOf(g) === gRoot.id, `parent_id ${JSON.stringify(g.parent_id)}`);
  return g;
});

await step("Groups.Groups", async () => {
  need(token, dom, gRoot, gChild, gOther, gLeaf);
  const page = await sdk.Groups.Groups({ offset: 0, limit: 10 }, dom, token);
  const got = ids(page.groups);
  check(page.total === 4, `total 4, got ${page.total}`);
  check([gRoot, gChild, gOther, gLeaf].every((g) => got.includes(g.id)), `all four listed (${got})`);
  return page;
});

await step("Groups.Groups(root_group)", async () => {
  need(token, dom, gRoot, gChild, gOther, gLeaf);
  const page = await sdk.Groups.Groups({ offset: 0, limit: 10, root_group: true }, dom, token);
  const got = ids(page.groups);
  check(got.includes(gRoot.id) && got.includes(gOther.id) && got.includes(gLeaf.id), `roots listed (${got})`);
  check(!got.includes(gChild.id), `child not listed (${got})`);
  return page;
});

await step("Groups.UpdateGroup", async () => {
  need(token, dom, gRoot);
  const g = await sdk.Groups.UpdateGroup(
    { id: gRoot.id, name: `grp-root-renamed-${run}`, description: "renamed", metadata: { level: "top", v: 2 } },
    dom,
    token,
  );
  check(g.name === `grp-root-renamed-${run}`, `name updated (${g.name})`);
  check(g.description === "renamed", `description updated (${g.description})`);
  check(g.metadata?.v === 2, `metadata updated (${JSON.stringify(g.metadata)})`);
  return g;
});

await step("Groups.UpdateGroupTags", async () => {
  need(token, dom, gRoot);
  const g = await sdk.Groups.UpdateGroupTags({ id: gRoot.id, tags: ["g1", "g2"] }, dom, token);
  check(sameSet(g.tags, ["g1", "g2"]), `tags updated (${JSON.stringify(g.tags)})`);
  return g;
});

await step("Groups.DisableGroup", async () => {
  need(token, dom, gLeaf);
  const g = await sdk.Groups.DisableGroup(gLeaf.id, dom, token);
  check(g.status === "disabled", `status disabled (${g.status})`);
  const page = await sdk.Groups.Groups({ status: "disabled" }, dom, token);
  check(ids(page.groups).includes(gLeaf.id), "listed with status=disabled");
  return g;
});

await step("Groups.EnableGroup", async () => {
  need(token, dom, gLeaf);
  const g = await sdk.Groups.EnableGroup(gLeaf.id, dom, token);
  check(g.status === "enabled", `status enabled (${g.status})`);
  return g;
});

await step("Groups.RetrieveGroupHierarchy(descendants, tree)", async () => {
  need(token, dom, gRoot, gChild);
  const h = await sdk.Groups.RetrieveGroupHierarchy(gRoot.id, dom, { level: 5, direction: -1, tree: true }, token);
  check(Array.isArray(h.groups), "groups array");
  check(flatIds(h.groups).includes(gChild.id), `child in the tree (${flatIds(h.groups)})`);
  check(!flatIds(h.groups).includes(gOther.id), "unrelated group not in the tree");
  const root = findGroup(h.groups, gRoot.id);
  if (root) check(ids(root.children).includes(gChild.id), "child nested under the root");
  check(h.direction === -1, `direction -1 echoed (${h.direction})`);
  return h;
});

await step("Groups.RetrieveGroupHierarchy(ancestors, tree)", async () => {
  need(token, dom, gRoot, gChild);
  const h = await sdk.Groups.RetrieveGroupHierarchy(gChild.id, dom, { level: 5, direction: 1, tree: true }, token);
  check(Array.isArray(h.groups), "groups array");
  check(flatIds(h.groups).includes(gRoot.id), `root in the tree (${flatIds(h.groups)})`);
  check(!flatIds(h.groups).includes(gOther.id), "unrelated group not in the tree");
  check(h.direction === 1, `direction 1 echoed (${h.direction})`);
  return h;
});

await step("Groups.AddParentGroup", async () => {
  need(token, dom, gRoot, gOther);
  const r = await sdk.Groups.AddParentGroup(gOther.id, dom, gRoot.id, token);
  check(r.status === 200, `status 200 (${r.status})`);
  const g = await sdk.Groups.Group(gOther.id, dom, token);
  check(parentOf(g) === gRoot.id, `parent_id set (${JSON.stringify(g.parent_id)})`);
  return r;
});

await step("Groups.ListChildrenGroups", async () => {
  need(token, dom, gRoot, gChild, gOther);
  const page = await sdk.Groups.ListChildrenGroups(gRoot.id, dom, { offset: 0, limit: 10 }, token);
  const got = ids(page.groups);
  check(got.length === 2 && got.includes(gChild.id) && got.includes(gOther.id), `two children (${got})`);
  return page;
});

await step("Groups.RemoveParentGroup", async () => {
  need(token, dom, gRoot, gOther);
  const r = await sdk.Groups.RemoveParentGroup(gOther.id, dom, token);
  check(r.status === 204, `status 204 (${r.status})`);
  const g = await sdk.Groups.Group(gOther.id, dom, token);
  check(parentOf(g) === "", `parent_id cleared (${JSON.stringify(g.parent_id)})`);
  const page = await sdk.Groups.ListChildrenGroups(gRoot.id, dom, { offset: 0, limit: 10 }, token);
  check(!ids(page.groups).includes(gOther.id), "no longer a child of the root");
  return r;
});

await step("Groups.AddChildrenGroups", async () => {
  need(token, dom, gOther, gLeaf);
  const r = await sdk.Groups.AddChildrenGroups(gOther.id, dom, [gLeaf.id], token);
  check(r.status === 200, `status 200 (${r.status})`);
  const page = await sdk.Groups.ListChildrenGroups(gOther.id, dom, { offset: 0, limit: 10 }, token);
  check(ids(page.groups).join() === gLeaf.id, `leaf is the only child (${ids(page.groups)})`);
  const g = await sdk.Groups.Group(gLeaf.id, dom, token);
  check(parentOf(g) === gOther.id, `leaf parent_id (${JSON.stringify(g.parent_id)})`);
  return r;
});

await step("Groups.RemoveChildrenGroups", async () => {
  need(token, dom, gOther, gLeaf);
  const r = await sdk.Groups.RemoveChildrenGroups(gOther.id, dom, [gLeaf.id], token);
  check(r.status === 204, `status 204 (${r.status})`);
  const page = await sdk.Groups.ListChildrenGroups(gOther.id, dom, { offset: 0, limit: 10 }, token);
  check(ids(page.groups).length === 0, `no children left (${ids(page.groups)})`);
  return r;
});

await step("Groups.RemoveAllChildrenGroups", async () => {
  need(token, dom, gOther, gLeaf);
  const add = await sdk.Groups.AddChildrenGroups(gOther.id, dom, [gLeaf.id], token);
  check(add.status === 200, `re-add status 200 (${add.status})`);
  const r = await sdk.Groups.RemoveAllChildrenGroups(gOther.id, dom, token);
  check(r.status === 204, `status 204 (${r.status})`);
  const page = await sdk.Groups.ListChildrenGroups(gOther.id, dom, { offset: 0, limit: 10 }, token);
  check(ids(page.groups).length === 0, `no children left (${ids(page.groups)})`);
  const g = await sdk.Groups.Group(gLeaf.id, dom, token);
  check(parentOf(g) === "", `leaf parent_id cleared (${JSON.stringify(g.parent_id)})`);
  return r;
});

// ---- parent groups of clients and channels ---------------------------------------
const parentGroupOf = (e) => e?.parent_group_id || "";

await step("Clients.setClientParentGroup", async () => {
  need(token, dom, client, gRoot);
  const r = await sdk.Clients.setClientParentGroup(dom, client.id, gRoot.id, token);
  check(r.status === 200, `status 200 (${r.status})`);
  const c = await sdk.Clients.Client(client.id, dom, token);
  check(parentGroupOf(c) === gRoot.id, `parent_group_id set (${JSON.stringify(c.parent_group_id)})`);
  return r;
});

await step("Clients.DeleteClientParentGroup", async () => {
  need(token, dom, client, gRoot);
  const r = await sdk.Clients.DeleteClientParentGroup(dom, client.id, token);
  check(r.status === 204, `status 204 (${r.status})`);
  const c = await sdk.Clients.Client(client.id, dom, token);
  check(parentGroupOf(c) === "", `parent_group_id cleared (${JSON.stringify(c.parent_group_id)})`);
  return r;
});

await step("Channels.SetChannelParentGroup", async () => {
  need(token, dom, channel, gRoot);
  const r = await sdk.Channels.SetChannelParentGroup(dom, channel.id, gRoot.id, token);
  check(r.status === 200, `status 200 (${r.status})`);
  const ch = await sdk.Channels.Channel(channel.id, dom, token);
  check(parentGroupOf(ch) === gRoot.id, `parent_group_id set (${JSON.stringify(ch.parent_group_id)})`);
  return r;
});

await step("Channels.DeleteChannelParentGroup", async () => {
  need(token, dom, channel, gRoot);
  const r = await sdk.Channels.DeleteChannelParentGroup(dom, channel.id, token);
  check(r.status === 204, `status 204 (${r.status})`);
  const ch = await sdk.Channels.Channel(channel.id, dom, token);
  check(parentGroupOf(ch) === "", `parent_group_id cleared (${JSON.stringify(ch.parent_group_id)})`);
  return r;
});

// ---- roles -----------------------------------------------------------------------
// The four modules expose the same role operations under different names and
// argument orders; `entityArgs` puts the entity id and domain id where each expects them.
async function roleSuite({ mod, X, entityId, known, initial, added }) {
  const api = sdk[mod];
  const isDomain = X === "Domain";
  const ent = (...rest) => (isDomain ? [dom, ...rest] : [entityId, dom, ...rest]);
  const roleName = `role-${X.toLowerCase()}-${run}`;
  const renamed = `${roleName}-renamed`;
  const admin = `${entityId}_admin`;
  const pre = () => need(token, dom, entityId, member2);
  const listActions = (rid) => api[`List${X}RoleActions`](...ent(rid, token));
  const listMembers = (rid) => api[`List${X}RoleMembers`](...ent(rid, { offset: 0, limit: 10 }, token));

  await step(`${mod}.List${X}Actions`, async () => {
    need(token, dom);
    const a = isDomain ? await api.ListDomainActions(token) : await api[`List${X}Actions`](dom, token);
    check(Array.isArray(a) && a.includes(known), `${known} among ${a?.length} available actions`);
    check([...initial, ...added].every((x) => a.includes(x)), "every action used below is available");
    return a;
  });

  const role = await step(`${mod}.Create${X}Role`, async () => {
    pre();
    const r = isDomain
      ? await api.CreateDomainRole(dom, roleName, token, initial, [member2])
      : X === "Group"
        ? await api.CreateGroupRole(entityId, dom, roleName, token, initial, [member2])
        : await api[`Create${X}Role`](entityId, roleName, dom, token, initial, [member2]);
    check(r && r.id, "role id");
    check(r.name === roleName, `name echoed (${r.name})`);
    check(r.entity_id === entityId, `entity_id ${r.entity_id}`);
    return r;
  });
  const rid = role?.id;

  await step(`${mod}.List${X}Roles`, async () => {
    pre();
    need(rid);
    const page = await api[`List${X}Roles`](...ent({ offset: 0, limit: 10 }, token));
    const got = ids(page.roles);
    check(got.includes(rid), `new role listed (${got})`);
    check(got.includes(admin), `built-in ${admin} listed`);
    check(page.total === got.length, `total ${page.total} == ${got.length}`);
    return page;
  });

  await step(`${mod}.View${X}Role`, async () => {
    pre();
    need(rid);
    const r = await api[`View${X}Role`](...ent(rid, token));
    check(r.id === rid && r.name === roleName, `same id/name (${r.id}, ${r.name})`);
    check(r.entity_id === entityId, "entity_id");
    return r;
  });

  await step(`${mod}.Update${X}Role`, async () => {
    pre();
    need(rid);
    const r = await api[`Update${X}Role`](...ent(rid, { name: renamed }, token));
    check(r.id === rid && r.name === renamed, `renamed (${r.name})`);
    const v = await api[`View${X}Role`](...ent(rid, token));
    check(v.name === renamed, `view shows the new name (${v.name})`);
    return r;
  });

  await step(`${mod}.List${X}RoleActions`, async () => {
    pre();
    need(rid);
    const a = await listActions(rid);
    check(sameSet(a, initial), `optional_actions stored (${JSON.stringify(a)})`);
    return a;
  });

  await step(`${mod}.Add${X}RoleActions`, async () => {
    pre();
    need(rid);
    const a = await api[`Add${X}RoleActions`](...ent(rid, added, token));
    check(Array.isArray(a) && added.every((x) => a.includes(x)), `added actions returned (${JSON.stringify(a)})`);
    const now = await listActions(rid);
    check(sameSet(now, [...initial, ...added]), `role actions now ${JSON.stringify(now)}`);
    return a;
  });

  await step(`${mod}.Delete${X}RoleActions`, async () => {
    pre();
    need(rid);
    const r = await api[`Delete${X}RoleActions`](...ent(rid, initial, token));
    check(r.status === 204, `status 204 (${r.status})`);
    const now = await listActions(rid);
    check(sameSet(now, added), `role actions now ${JSON.stringify(now)}`);
    return r;
  });

  await step(`${mod}.DeleteAll${X}RoleActions`, async () => {
    pre();
    need(rid);
    const r = await api[`DeleteAll${X}RoleActions`](...ent(rid, token));
    check(r.status === 204, `status 204 (${r.status})`);
    const now = await listActions(rid);
    check(Array.isArray(now) && now.length === 0, `no actions left (${JSON.stringify(now)})`);
    return r;
  });

  await step(`${mod}.List${X}RoleMembers`, async () => {
    pre();
    need(rid);
    const page = await listMembers(rid);
    check(JSON.stringify(page.members) === JSON.stringify([member2]), `optional_members stored (${JSON.stringify(page.members)})`);
    check(page.total === 1, `total 1 (${page.total})`);
    return page;
  });

  await step(`${mod}.Delete${X}RoleMembers`, async () => {
    pre();
    need(rid);
    const r = await api[`Delete${X}RoleMembers`](...ent(rid, [member2], token));
    check(r.status === 204, `status 204 (${r.status})`);
    const page = await listMembers(rid);
    check((page.members || []).length === 0 && page.total === 0, `no members left (${JSON.stringify(page.members)})`);
    return r;
  });

  await step(`${mod}.Add${X}RoleMembers`, async () => {
    pre();
    need(rid);
    const m = await api[`Add${X}RoleMembers`](...ent(rid, [member2], token));
    check(JSON.stringify(m) === JSON.stringify([member2]), `added members returned (${JSON.stringify(m)})`);
    const page = await listMembers(rid);
    check(JSON.stringify(page.members) === JSON.stringify([member2]), `member listed (${JSON.stringify(page.members)})`);
    return m;
  });

  await step(`${mod}.List${X}Members`, async () => {
    pre();
    need(rid, user);
    const page = await api[`List${X}Members`](...ent({ offset: 0, limit: 10 }, token));
    const byId = Object.fromEntries((page.members || []).map((m) => [m.member_id, m.roles || []]));
    const roleIds = (u) => (byId[u] || []).map((r) => r.role_id);
    check(roleIds(member2).includes(rid), `second user holds the new role (${JSON.stringify(byId[member2])})`);
    const mine = (byId[member2] || []).find((r) => r.role_id === rid);
    check(mine?.role_name === renamed, `role_name ${mine?.role_name}`);
    check(roleIds(user.id).includes(admin), `creator holds ${admin} (${JSON.stringify(byId[user.id])})`);
    if (isDomain) check(roleIds(member2).includes(`${dom}_member`), `invitee holds ${dom}_member (${JSON.stringify(byId[member2])})`);
    check(page.total === Object.keys(byId).length, `total ${page.total} == ${Object.keys(byId).length} members`);
    return page;
  });

  await step(`${mod}.DeleteAll${X}RoleMembers`, async () => {
    pre();
    need(rid);
    const r = await api[`DeleteAll${X}RoleMembers`](...ent(rid, token));
    check(r.status === 204, `status 204 (${r.status})`);
    const page = await listMembers(rid);
    check((page.members || []).length === 0 && page.total === 0, `no members left (${JSON.stringify(page.members)})`);
    return r;
  });

  await step(`${mod}.Delete${X}Role`, async () => {
    pre();
    need(rid);
    const r = await api[`Delete${X}Role`](...ent(rid, token));
    check(r.status === 204, `status 204 (${r.status})`);
    await expect404(() => api[`View${X}Role`](...ent(rid, token)), "deleted role");
    const page = await api[`List${X}Roles`](...ent({ offset: 0, limit: 10 }, token));
    check(!ids(page.roles).includes(rid), "deleted role not listed");
    return r;
  });
}

await roleSuite({
  mod: "Clients",
  X: "Client",
  entityId: client?.id,
  known: "connect_to_channel",
  initial: ["read"],
  added: ["update", "connect_to_channel"],
});
await roleSuite({
  mod: "Channels",
  X: "Channel",
  entityId: channel?.id,
  known: "publish",
  initial: ["read"],
  added: ["publish", "subscribe"],
});
await roleSuite({
  mod: "Groups",
  X: "Group",
  entityId: gRoot?.id,
  known: "subgroup_client_read",
  initial: ["read"],
  added: ["update", "subgroup_client_read"],
});
await roleSuite({
  mod: "Domains",
  X: "Domain",
  entityId: dom,
  known: "client_create",
  initial: ["read"],
  added: ["client_read", "group_create"],
});

// ---- sharing: a client role with `read` lets the second user see the client -------
await step("Clients.Client(second user, no role: 404)", async () => {
  need(token2, dom, client);
  await expect404(() => sdk.Clients.Client(client.id, dom, token2), "client seen by a non-member");
});

const viewerRole = await step("Clients.CreateClientRole(read, second user)", async () => {
  need(token, token2, dom, client, member2);
  const r = await sdk.Clients.CreateClientRole(client.id, `viewer-${run}`, dom, token, ["read"], [member2]);
  check(r && r.id, "role id");
  const c = await sdk.Clients.Client(client.id, dom, token2);
  check(c.id === client.id, "second user can now view the client");
  return r;
});

await step("Clients.DeleteClientRoleMembers(second user: 404 again)", async () => {
  need(token, token2, dom, client, member2, viewerRole);
  const r = await sdk.Clients.DeleteClientRoleMembers(client.id, dom, viewerRole.id, [member2], token);
  check(r.status === 204, `status 204 (${r.status})`);
  await expect404(() => sdk.Clients.Client(client.id, dom, token2), "client seen after removal from the role");
  return r;
});

// ---- personal access tokens: the PATs module, and a PAT used as a Bearer ----------
const expectStatus = async (fn, status, what) => {
  try {
    await fn();
  } catch (e) {
    check(e?.status === status, `${what}: expected ${status}, got ${describeErr(e)}`);
    return;
  }
  throw new Error(`${what}: succeeded (expected ${status})`);
};
const pat = await step("PATs.CreatePAT", async () => {
  need(token);
  const p = await sdk.PATs.CreatePAT(`ci-${run}`, "30d", token, "SDK run");
  check(p && p.id, "pat id");
  check(typeof p.secret === "string" && p.secret.startsWith("pat_"), `secret pat_… (${p.secret})`);
  check(p.name === `ci-${run}` && p.description === "SDK run", "name and description echoed");
  return p;
});
await step("PATs.AddScope(clients list+read in the domain)", async () => {
  need(token, pat, dom);
  const scopes = ["list", "read"].map((operation) => ({
    domain_id: dom,
    entity_type: "clients",
    entity_id: "*",
    operation,
  }));
  const r = await sdk.PATs.AddScope(scopes, pat.id, token);
  check(r.status === 200, `status 200 (${r.status})`);
  return r;
});
const scopes = await step("PATs.ListScopes", async () => {
  need(token, pat);
  const page = await sdk.PATs.ListScopes(pat.id, { offset: 0, limit: 10 }, token);
  check(page.total === 2 && page.scopes.length === 2, `2 scopes (${page.total})`);
  check(page.scopes.every((x) => x.entity_type === "clients" && x.entity_id === "*"), "scope fields");
  return page.scopes;
});
await step("Clients.Clients(with the PAT)", async () => {
  need(pat, dom, client);
  const page = await sdk.Clients.Clients({ offset: 0, limit: 10 }, dom, pat.secret);
  check(ids(page.clients).includes(client.id), "the PAT lists the domain's clients");
  const c = await sdk.Clients.Client(client.id, dom, pat.secret);
  check(c.id === client.id, "the PAT reads a client");
  return page;
});
await step("Clients.CreateClient(with the PAT: 403)", async () => {
  need(pat, dom);
  await expectStatus(
    () => sdk.Clients.CreateClient({ name: `pat-${run}` }, dom, pat.secret),
    403,
    "create with a read-only PAT",
  );
});
await step("PATs.ViewPAT", async () => {
  need(token, pat);
  const p = await sdk.PATs.ViewPAT(pat.id, token);
  check(p.id === pat.id && p.secret === undefined, "viewed without its secret");
  return p;
});
await step("PATs.ListPATS", async () => {
  need(token, pat);
  const page = await sdk.PATs.ListPATS({ offset: 0, limit: 10 }, token);
  check(ids(page.pats).includes(pat.id), "listed");
  return page;
});
await step("PATs.UpdateName", async () => {
  need(token, pat);
  const p = await sdk.PATs.UpdateName(`renamed-${run}`, pat.id, token);
  check(p.name === `renamed-${run}`, `renamed (${p.name})`);
  return p;
});
await step("PATs.UpdateDescription", async () => {
  need(token, pat);
  const p = await sdk.PATs.UpdateDescription("nightly jobs", pat.id, token);
  check(p.description === "nightly jobs", "described");
  return p;
});
await step("PATs.DeleteScopes", async () => {
  need(token, pat, scopes, dom, client);
  const read = scopes.find((x) => x.operation === "read");
  const r = await sdk.PATs.DeleteScopes(pat.id, [read.id], token);
  check(r.status === 200, `status 200 (${r.status})`);
  await expectStatus(() => sdk.Clients.Client(client.id, dom, pat.secret), 403, "read after its scope went");
  return r;
});
await step("PATs.RevokePAT(then 401)", async () => {
  need(token, pat, dom);
  const r = await sdk.PATs.RevokePAT(pat.id, token);
  check(r.status === 204, `status 204 (${r.status})`);
  await expectStatus(() => sdk.Clients.Clients({}, dom, pat.secret), 401, "list with a revoked PAT");
  return r;
});
const reset = await step("PATs.ResetSecret", async () => {
  need(token, pat, dom);
  const p = await sdk.PATs.ResetSecret("1d", pat.id, token);
  check(p.secret && p.secret !== pat.secret, "a new secret");
  const page = await sdk.Clients.Clients({ offset: 0, limit: 10 }, dom, p.secret);
  check(Array.isArray(page.clients), "the new secret lists clients");
  return p;
});
await step("PATs.DeleteAllScopes", async () => {
  need(token, pat, reset, dom);
  const r = await sdk.PATs.DeleteAllScopes(pat.id, token);
  check(r.status === 200, `status 200 (${r.status})`);
  await expectStatus(() => sdk.Clients.Clients({}, dom, reset.secret), 403, "list without scopes");
  return r;
});
await step("PATs.DeletePAT", async () => {
  need(token, pat);
  const r = await sdk.PATs.DeletePAT(pat.id, token);
  check(r.status === 204, `status 204 (${r.status})`);
  await expectStatus(() => sdk.PATs.ViewPAT(pat.id, token), 404, "deleted PAT");
  return r;
});
await step("PATs.DeleteAllPATs", async () => {
  need(token);
  await sdk.PATs.CreatePAT(`extra-${run}`, "1h", token);
  const r = await sdk.PATs.DeleteAllPATs(token);
  check(r.status === 200, `status 200 (${r.status})`);
  const page = await sdk.PATs.ListPATS({ offset: 0, limit: 10 }, token);
  check(page.total === 0, `none left (${page.total})`);
  return r;
});

// ---- group deletes ---------------------------------------------------------------
await step("Groups.DeleteGroup", async () => {
  need(token, dom, gLeaf, gOther);
  for (const g of [gLeaf, gOther]) {
    const r = await sdk.Groups.DeleteGroup(g.id, dom, token);
    check(r.status === 204, `status 204 (${r.status})`);
    await expect404(() => sdk.Groups.Group(g.id, dom, token), "group");
  }
  const page = await sdk.Groups.Groups({ offset: 0, limit: 10 }, dom, token);
  check(!ids(page.groups).includes(gLeaf.id) && !ids(page.groups).includes(gOther.id), "deleted groups not listed");
  return page;
});

// ---- deletes ---------------------------------------------------------------------
await step("Clients.DeleteClient", async () => {
  need(token, dom, client);
  const r = await sdk.Clients.DeleteClient(client.id, dom, token);
  check(r.status === 204, `status 204 (${r.status})`);
  await expect404(() => sdk.Clients.Client(client.id, dom, token), "client");
  return r;
});

await step("Channels.DeleteChannel", async () => {
  need(token, dom, channel);
  const r = await sdk.Channels.DeleteChannel(channel.id, dom, token);
  check(r.status === 204, `status 204 (${r.status})`);
  await expect404(() => sdk.Channels.Channel(channel.id, dom, token), "channel");
  return r;
});

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
