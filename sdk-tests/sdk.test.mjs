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

// ---- deletes ---------------------------------------------------------------------
const expect404 = async (fn, what) => {
  try {
    await fn();
  } catch (e) {
    check(e?.status === 404, `${what}: expected 404 after delete, got ${describeErr(e)}`);
    return;
  }
  throw new Error(`${what} still readable after delete`);
};

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
