// Drives the built-in console (/console/) in Debian's Chromium with playwright-core, by
// role and accessible name, as an operator would:
//
//   SWITCHYARD_URL=http://127.0.0.1:9000 node console.test.mjs
//
// CHROMIUM_PATH (default /usr/bin/chromium) names the browser; SCREENSHOT_DIR (default
// ../docs/console) receives the screenshots the README shows. One line per step:
// `PASS <step>` or `FAIL <step>: <reason>`; the exit code is non-zero when a step failed
// or the browser logged a JavaScript error.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const BASE = (process.env.SWITCHYARD_URL || "http://127.0.0.1:9000").replace(/\/+$/, "");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const here = dirname(fileURLToPath(import.meta.url));
const SHOTS = process.env.SCREENSHOT_DIR || join(here, "..", "docs", "console");
mkdirSync(SHOTS, { recursive: true });

const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const username = `op${run}`;
const password = "console-pass-123";
const timeout = 5000;

let passed = 0;
let failed = 0;
const jsErrors = [];
// API answers of 400 and above the flows did not expect (the wrong password's 401 is).
const badResponses = [];
let expectStatus = null;
let page;
async function step(name, fn) {
  try {
    const r = await fn();
    passed += 1;
    console.log(`PASS ${name}`);
    return r;
  } catch (e) {
    failed += 1;
    const alert = page ? await page.getByRole("alert").allTextContents().catch(() => []) : [];
    console.log(`FAIL ${name}: ${(e && e.message ? e.message : String(e)).split("\n")[0]}` +
      (alert.length ? ` [alert: ${alert.join(" | ")}]` : ""));
    if (page) await page.screenshot({ path: join(SHOTS, `failed-${failed}.png`) }).catch(() => {});
    return undefined;
  }
}
function check(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
async function http(method, path, body, headers = {}) {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: r.status, json };
}

// An operator account, registered over the API.
const reg = await http("POST", "/users", {
  first_name: "Olga", last_name: "Operator", email: `${username}@example.com`,
  credentials: { username, secret: password },
});
if (reg.status !== 201) {
  console.log(`FAIL setup: registering ${username}: ${reg.status} ${JSON.stringify(reg.json)}`);
  process.exit(1);
}
const apiToken = (await http("POST", "/users/tokens/issue", { username, password })).json.access_token;
const auth = { Authorization: `Bearer ${apiToken}` };

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
page = await context.newPage();
page.setDefaultTimeout(timeout);
// Chromium logs every non-2xx fetch as "Failed to load resource"; those are checked
// below as responses, everything else logged as an error is a JavaScript error.
page.on("console", (m) => {
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) jsErrors.push(m.text());
});
page.on("pageerror", (e) => jsErrors.push(e.message));
page.on("response", async (res) => {
  if (res.status() < 400) return;
  const path = new URL(res.url()).pathname;
  if (expectStatus && expectStatus.status === res.status() && expectStatus.path === path) return;
  badResponses.push(`${res.request().method()} ${path} -> ${res.status()} ${(await res.text().catch(() => "")).slice(0, 120)}`);
});

// ---- first load ----------------------------------------------------------------------
await step("first load of /console/ transfers at most 500 KB", async () => {
  let bytes = 0;
  const count = async (res) => { try { bytes += (await res.body()).length; } catch {} };
  page.on("response", count);
  await page.goto(`${BASE}/console`);
  await page.waitForLoadState("networkidle");
  page.off("response", count);
  check(page.url().endsWith("/console/"), `redirected to /console/ (${page.url()})`);
  check(bytes > 0 && bytes <= 500 * 1024, `${bytes} bytes`);
});

// ---- sign in -------------------------------------------------------------------------
await step("a wrong password shows an alert", async () => {
  expectStatus = { status: 401, path: "/users/tokens/issue" };
  await page.getByRole("textbox", { name: "Username or email" }).fill(username);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  const text = await page.getByRole("alert").textContent();
  check(/credentials|authentication|password/i.test(text), `alert text: ${text}`);
  await page.screenshot({ path: join(SHOTS, "sign-in.png") });
  expectStatus = null;
});
await step("sign in", async () => {
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.waitFor();
  for (const link of ["Domains", "Clients", "Channels", "Groups", "Gateways", "Messages"]) {
    check(await nav.getByRole("link", { name: link }).isVisible(), `nav link ${link}`);
  }
  check(await page.getByRole("button", { name: "Sign out" }).isVisible(), "Sign out button");
  check((await page.getByText(username).count()) > 0, "shows who is signed in");
  const stored = await page.evaluate(() => document.location.href);
  check(!stored.includes("token"), "no token in the URL");
});

// ---- domains -------------------------------------------------------------------------
const domainName = `Plant ${run}`;
await step("create a domain and choose it", async () => {
  await page.getByRole("button", { name: "New domain" }).click();
  await page.getByRole("textbox", { name: "Name" }).fill(domainName);
  await page.getByRole("textbox", { name: "Route" }).fill(`plant-${run}`);
  await page.getByRole("button", { name: "Create" }).click();
  const link = page.getByRole("link", { name: domainName });
  await link.waitFor();
  check((await page.getByRole("table").getByRole("link", { name: domainName }).count()) === 1, "domain in the table");
  await page.screenshot({ path: join(SHOTS, "domains.png") });
  await link.click();
  await page.getByRole("heading", { level: 1, name: domainName }).waitFor();
  check((await page.locator("header .current-domain").textContent()).includes(domainName), "current domain shown");
});
const domains = await http("GET", "/domains?limit=100", undefined, auth);
const domain = (domains.json.domains || []).find((x) => x.name === domainName);

// ---- clients -------------------------------------------------------------------------
const clientName = `pump-${run}`;
await step("create a client and reveal its secret", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clients" }).click();
  await page.getByRole("button", { name: "New client" }).click();
  await page.getByRole("textbox", { name: "Name", exact: true }).fill(clientName);
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const link = page.getByRole("row").getByRole("link", { name: clientName });
  await link.waitFor();
  await page.screenshot({ path: join(SHOTS, "clients.png") });
  await link.click();
  await page.getByRole("heading", { level: 1, name: clientName }).waitFor();
  const api = await http("GET", `/${domain.id}/clients?name=${clientName}`, undefined, auth);
  const c = api.json.clients[0];
  check((await page.getByText(c.id, { exact: true }).count()) >= 1, "page shows the id");
  const secret = page.getByLabel("Secret", { exact: true });
  check(!(await secret.textContent()).includes(c.credentials.secret), "secret hidden at first");
  await page.getByRole("button", { name: "Show secret" }).click();
  check((await secret.textContent()) === c.credentials.secret, "secret revealed");
  await page.screenshot({ path: join(SHOTS, "client.png") });
});
await step("filter clients by name", async () => {
  await http("POST", `/${domain.id}/clients`, { name: `valve-${run}` }, auth);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clients" }).click();
  await page.getByRole("row").getByRole("link", { name: `valve-${run}` }).waitFor();
  await page.getByRole("searchbox", { name: "Name" }).fill("valve");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("row").getByRole("link", { name: clientName }).waitFor({ state: "detached" });
  check(await page.getByRole("row").getByRole("link", { name: `valve-${run}` }).isVisible(), "valve still listed");
});

// ---- channels, connections, live messages ---------------------------------------------
const channelName = `telemetry-${run}`;
await step("create a channel and connect the client (publish and subscribe)", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Channels" }).click();
  await page.getByRole("button", { name: "New channel" }).click();
  await page.getByRole("textbox", { name: "Name", exact: true }).fill(channelName);
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.getByRole("row").getByRole("link", { name: channelName }).click();
  await page.getByRole("heading", { level: 1, name: channelName }).waitFor();
  await page.getByRole("button", { name: "Connect clients" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  await dialog.getByRole("checkbox", { name: clientName }).check();
  check(await dialog.getByRole("checkbox", { name: "Publish" }).isChecked(), "Publish checked");
  check(await dialog.getByRole("checkbox", { name: "Subscribe" }).isChecked(), "Subscribe checked");
  await dialog.getByRole("button", { name: "Connect" }).click();
  await dialog.waitFor({ state: "hidden" });
  const row = page.getByRole("row", { name: new RegExp(clientName) });
  await row.waitFor();
  check((await row.textContent()).includes("publish, subscribe"), `types shown: ${await row.textContent()}`);
});
await step("a message published over HTTP appears in Live messages within 5 s", async () => {
  const region = page.getByRole("region", { name: "Live messages" });
  await region.getByText("Listening as").waitFor();
  const chs = await http("GET", `/${domain.id}/channels?name=${channelName}`, undefined, auth);
  const cls = await http("GET", `/${domain.id}/clients?name=${clientName}`, undefined, auth);
  const body = `[{"n":"pressure","v":${run.length}.5,"u":"bar","t":"${run}"}]`;
  const r = await http("POST", `/m/${domain.id}/c/${chs.json.channels[0].id}`, body, {
    Authorization: `Client ${cls.json.clients[0].credentials.secret}`,
    "Content-Type": "application/senml+json",
  });
  check(r.status === 202, `publish status ${r.status}`);
  const item = region.getByRole("listitem").filter({ hasText: run });
  await item.first().waitFor({ timeout: 5000 });
  await page.waitForTimeout(300);
  check((await item.count()) === 1, `the message is shown once (${await item.count()}): ${await region.textContent()}`);
  await page.screenshot({ path: join(SHOTS, "channel.png"), fullPage: true });
});

// ---- gateways ------------------------------------------------------------------------
const gwName = `edge-${run}`;
await step("provision a gateway", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Gateways" }).click();
  await page.getByRole("button", { name: "New gateway" }).click();
  await page.getByRole("textbox", { name: "Name" }).fill(gwName);
  await page.getByRole("textbox", { name: "External ID" }).fill(`ext-${run}`);
  await page.getByRole("textbox", { name: "External key" }).fill(`key-${run}`);
  await page.getByRole("button", { name: "Provision" }).click();
  await page.getByRole("heading", { name: "Created clients" }).waitFor();
  check((await page.getByRole("heading", { name: "Created channels" }).count()) === 1, "channels listed");
  check((await page.getByRole("link", { name: gwName }).count()) >= 1, "the gateway's client is listed");
  await page.getByRole("row", { name: new RegExp(`ext-${run}`) }).waitFor();
  await page.screenshot({ path: join(SHOTS, "gateways.png") });
});

// ---- the other pages -----------------------------------------------------------------
await step("groups: create a group and a subgroup", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Groups" }).click();
  // The previous page (gateways) has a "Name" box too: wait for the groups page's form.
  await page.getByRole("heading", { level: 1, name: "Groups" }).waitFor();
  await page.getByRole("button", { name: "Create group" }).waitFor();
  await page.getByRole("textbox", { name: "Name" }).fill(`site-${run}`);
  await page.getByRole("button", { name: "Create group" }).click();
  await page.getByRole("link", { name: `site-${run}` }).waitFor();
  await page.getByRole("textbox", { name: "Name" }).fill(`floor-${run}`);
  await page.getByLabel("Parent").selectOption({ label: `site-${run}` });
  await page.getByRole("button", { name: "Create group" }).click();
  await page.getByRole("listitem").filter({ hasText: `site-${run}` }).getByRole("link", { name: `floor-${run}` }).waitFor();
});
await step("place a client in a group, then see it on the group's page", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clients" }).click();
  await page.getByRole("row").getByRole("link", { name: clientName }).click();
  await page.getByLabel("Parent group").selectOption({ label: `floor-${run}` });
  await page.getByRole("button", { name: "Set parent" }).click();
  await page.getByRole("heading", { level: 1, name: clientName }).waitFor();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Groups" }).click();
  await page.getByRole("link", { name: `floor-${run}` }).click();
  await page.getByRole("heading", { name: "Clients in this group" }).waitFor();
  await page.getByRole("listitem").getByRole("link", { name: clientName }).waitFor();
});
await step("health shows version, store and counters", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Health" }).click();
  await page.getByRole("heading", { name: "Counters" }).waitFor();
  check((await page.getByText("sqlite").or(page.getByText("postgres")).count()) >= 1, "store shown");
  await page.screenshot({ path: join(SHOTS, "health.png") });
});
await step("certificates: issue, download, revoke", async () => {
  page.once("dialog", (d) => d.accept());
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Certificates" }).click();
  await page.getByLabel("Client").selectOption({ label: clientName });
  await page.getByRole("button", { name: "Issue certificate" }).click();
  const row = page.getByRole("row").filter({ hasText: "valid" }).first();
  await row.waitFor();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    row.getByRole("button", { name: /^Download/ }).click(),
  ]);
  check(download.suggestedFilename().endsWith(".pem"), download.suggestedFilename());
  await row.getByRole("button", { name: /^Revoke/ }).click();
  await page.getByRole("row").filter({ hasText: "revoked" }).first().waitFor();
  await page.screenshot({ path: join(SHOTS, "certificates.png") });
});

await step("an expired access token is refreshed without signing in again", async () => {
  expectStatus = { status: 401, path: `/${domain.id}/clients` };
  await page.evaluate(() => sessionStorage.setItem("sy.access", "expired.token.value"));
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clients" }).click();
  await page.getByRole("row").getByRole("link", { name: clientName }).waitFor();
  check(!(await page.getByRole("button", { name: "Sign in" }).isVisible()), "still signed in");
  expectStatus = null;
});

// A second operator, invited from the console, accepts in the console.
const second = `op2${run}`;
await http("POST", "/users", {
  first_name: "Ben", last_name: "Second", email: `${second}@example.com`,
  credentials: { username: second, secret: password },
});
await step("invite a second user to the domain", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Domains" }).click();
  await page.getByRole("link", { name: domainName }).click();
  await page.getByRole("heading", { name: "Invitations" }).waitFor();
  await page.getByRole("textbox", { name: "Username" }).fill(second);
  await page.getByRole("button", { name: "Send invitation" }).click();
  await page.getByText(`Invitation sent to ${second}`).waitFor();
  await page.getByRole("cell", { name: "pending" }).waitFor();
});
let signedOutRefresh = null;
await step("the second user accepts and sees the domain", async () => {
  signedOutRefresh = await page.evaluate(() => sessionStorage.getItem("sy.refresh"));
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("textbox", { name: "Username or email" }).fill(second);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Your invitations" }).waitFor();
  await page.getByRole("button", { name: /^Accept invitation/ }).click();
  await page.getByRole("table").getByRole("link", { name: domainName }).waitFor();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("textbox", { name: "Username or email" }).fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
  await page.getByRole("table").getByRole("link", { name: domainName }).click();
  await page.getByRole("heading", { level: 1, name: domainName }).waitFor();
});

await step("signing out ended the session on the server (its refresh token is dead)", async () => {
  check(signedOutRefresh, "had a refresh token");
  const r = await fetch(`${BASE}/users/tokens/refresh`, {
    method: "POST",
    headers: { Authorization: `Bearer ${signedOutRefresh}` },
  });
  check(r.status === 401, `refresh after sign-out: ${r.status}`);
});
await step("phone width: navigation and tables still usable", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clients" }).click();
  await page.getByRole("row").getByRole("link", { name: clientName }).waitFor();
  const box = await page.getByRole("navigation", { name: "Main" }).boundingBox();
  check(box && box.width <= 390, `nav fits (${box && box.width})`);
  await page.screenshot({ path: join(SHOTS, "phone.png") });
  await page.setViewportSize({ width: 1280, height: 800 });
});
await step("keyboard: sign out with Tab and Enter", async () => {
  await page.getByRole("button", { name: "Sign out" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("button", { name: "Sign in" }).waitFor();
});

await step("no JavaScript errors in the browser console", async () => {
  check(jsErrors.length === 0, jsErrors.join(" | "));
});
await step("no API call of the console failed unexpectedly", async () => {
  check(badResponses.length === 0, badResponses.join(" | "));
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
