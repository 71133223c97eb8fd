// Real-browser end-to-end test of WebSockets over HTTP/2 (RFC 8441): the
// wsmachine-tokio example h2_server (wsmachine-tokio/examples/h2_server.rs)
// in Debian's Chromium driven by playwright-core.
//
// It starts the release h2_server on 127.0.0.1:9013 (HTTPS with ALPN h2 and
// http/1.1, a self-signed certificate, hence --ignore-certificate-errors),
// loads the echo page over HTTP/2, and opens wss:// WebSockets from it.
// Chromium sends a WebSocket as an extended CONNECT on an HTTP/2 connection
// it already has to the origin whose SETTINGS enabled extended CONNECT, so
// the page is loaded first. The server prints the HTTP version of every
// request and WebSocket with the client's address: that is the proof that
// each WebSocket arrived as an HTTP/2 extended CONNECT on the page's own
// connection, with permessage-deflate negotiated. Then: echo, a
// client-initiated close and a server-initiated close, each checked on the page (CloseEvent code, reason, wasClean) and on
// the server.
//
//   node browser/h2_test.mjs          (after `npm ci` in browser/)
//
// Environment: CHROMIUM (default /usr/bin/chromium), WS_BROWSER_H2_PORT
// (9013), WS_BROWSER_TIMEOUT_S (overall watchdog, 120), H2_SERVER (path to a
// built h2_server; default target/release/examples/h2_server).
//
// Ends with `browser-h2: N passed, N failed`; exits non-zero on any failure.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const startedAt = Date.now();
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const port = Number(process.env.WS_BROWSER_H2_PORT || 9013);
const host = "127.0.0.1";
const origin = `https://${host}:${port}`;
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const overallTimeoutMs = Number(process.env.WS_BROWSER_TIMEOUT_S || 120) * 1000;
const stepTimeoutMs = 10_000;
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, "target");
const serverBin = process.env.H2_SERVER || path.join(targetDir, "release", "examples", "h2_server");

// browser/test.mjs's flags (a machine with no network but the package
// registries), and --ignore-certificate-errors for the self-signed
// certificate. No flag is needed for WebSockets over HTTP/2: Chromium uses
// them by default.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--ignore-certificate-errors",
];

// ---------------------------------------------------------------- bookkeeping

let passed = 0;
let failed = 0;
let server = null;
let context = null;
let page = null;
let profileDir = null;
const serverLines = [];
const pageErrors = [];

function ok(name) {
  passed++;
  console.log(`ok      ${name}`);
}
function notOk(name, err) {
  failed++;
  console.log(`not ok  ${name}\n        ${String(err && err.message ? err.message : err).split("\n").join("\n        ")}`);
}

function killServer() {
  if (server && server.exitCode === null && server.signalCode === null) {
    try {
      server.kill("SIGKILL");
    } catch {}
  }
}
function removeProfile() {
  if (profileDir) {
    try {
      rmSync(profileDir, { recursive: true, force: true });
    } catch {}
    profileDir = null;
  }
}
process.on("exit", () => {
  killServer();
  removeProfile();
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.log(`\ninterrupted by ${sig}`);
    finish(1, true);
  });
}

let finishing = false;
async function finish(extraFailures = 0, hurry = false) {
  if (finishing) return;
  finishing = true;
  failed += extraFailures;
  console.log("\n--- h2_server output ---");
  for (const l of serverLines) console.log(l);
  if (context && !hurry) {
    await Promise.race([context.close().catch(() => {}), sleep(5000)]);
  }
  killServer();
  removeProfile();
  console.log(`\ntest time ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  console.log(`browser-h2: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

const watchdog = setTimeout(() => {
  console.log(`\nwatchdog: the test took longer than ${overallTimeoutMs / 1000} s; giving up`);
  finish(1, true);
}, overallTimeoutMs);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

function portAnswers() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v) => {
      s.destroy();
      resolve(v);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

// ---------------------------------------------------------------- the server

async function startServer() {
  if (!existsSync(serverBin)) {
    throw new Error(`${serverBin} is missing: cargo build --release -p wsmachine-tokio --features http2,rustls,deflate --example h2_server`);
  }
  if (await portAnswers()) throw new Error(`something already listens on ${host}:${port}; stop it or set WS_BROWSER_H2_PORT`);
  server = spawn(serverBin, [`${host}:${port}`], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let buffered = "";
  const onData = (chunk) => {
    buffered += chunk.toString("utf8");
    let i;
    while ((i = buffered.indexOf("\n")) >= 0) {
      serverLines.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
  };
  server.stdout.on("data", onData);
  server.stderr.on("data", onData);
  const exited = new Promise((resolve) => server.once("exit", (code, sig) => resolve({ code, sig })));
  const ready = (async () => {
    while (!serverLines.some((l) => l.startsWith("wsmachine-tokio h2 server:"))) await sleep(20);
  })();
  const first = await withTimeout(Promise.race([ready.then(() => null), exited]), stepTimeoutMs, "h2_server start");
  if (first) throw new Error(`h2_server exited at start (code ${first.code}, signal ${first.sig}): ${serverLines.join(" | ")}`);
}

/** Waits for a server line matching `re` (a RegExp) at index >= from; returns its match. */
async function serverLine(re, from = 0, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    for (let i = from; i < serverLines.length; i++) {
      const m = re.exec(serverLines[i]);
      if (m) return m;
    }
    if (Date.now() > deadline) {
      throw new Error(`the server never printed ${re}; after line ${from} it printed:\n${serverLines.slice(from).join("\n")}`);
    }
    await sleep(25);
  }
}

// ---------------------------------------------------------------- the page

async function logLines() {
  return page.$$eval("#log > div", (divs) =>
    divs.map((d) => ({ cls: d.className, text: d.textContent.replace(/^.*?  /s, "") })),
  );
}

/** Waits for a log line equal to `text` (or matching a RegExp), at index >= from. */
async function waitLog(text, from, ms = stepTimeoutMs) {
  const deadline = Date.now() + ms;
  for (;;) {
    const lines = await logLines();
    const i = lines.findIndex((l, j) => j >= from && (text instanceof RegExp ? text.test(l.text) : l.text === text));
    if (i >= 0) return lines[i];
    if (Date.now() > deadline) {
      throw new Error(`the log never showed ${text instanceof RegExp ? text : JSON.stringify(text)}; it shows:\n${lines.slice(from).map((l) => `[${l.cls}] ${l.text}`).join("\n")}`);
    }
    await sleep(50);
  }
}

async function logLength() {
  return page.$$eval("#log > div", (divs) => divs.length);
}

async function send(text) {
  await page.fill("#msg", text);
  const n = await logLength();
  await page.click("#send");
  await waitLog(`send(text): ${text}`, n);
  return n;
}

// The client address of the page's HTTP/2 connection, as the server printed it.
let pagePeer = null;
// The WebSockets the server accepted: { peer, id }.
const sockets = [];

/** Clicks Connect; checks the page's open and that the server took it as an HTTP/2 extended CONNECT. */
async function connect() {
  const from = serverLines.length;
  const n = await logLength();
  await page.click("#connect");
  await waitLog(`new WebSocket("wss://${host}:${port}/")`, n);
  await waitLog(/^open \(protocol "", extensions "permessage-deflate[^"]*"\)$/, n);
  const m = await serverLine(/^\[([^\]]+)\] websocket (\d+) over (.*) \/$/, from);
  if (m[3] !== "HTTP/2 (extended CONNECT) https") throw new Error(`the server took the WebSocket over ${m[3]}, not HTTP/2's extended CONNECT`);
  // The example is built with permessage-deflate (feature deflate):
  // Chromium offers it and the server accepts it on this path too.
  await serverLine(new RegExp(`^\\[ws ${m[2]}\\] open: .*name: "permessage-deflate"`), from);
  sockets.push({ peer: m[1], id: m[2] });
  return m[2];
}

// ---------------------------------------------------------------- scenarios

const scenarios = [];
const scenario = (name, steps) => scenarios.push({ name, steps });

scenario("the page comes over HTTP/2", [
  ["GET / over HTTPS answers 200 with the echo page, negotiated h2", async () => {
    const resp = await page.goto(origin + "/", { waitUntil: "load" });
    if (!resp || resp.status() !== 200) throw new Error(`GET / answered ${resp && resp.status()}`);
    if ((await page.title()) !== "wsmachine echo") throw new Error(`title is ${JSON.stringify(await page.title())}`);
    const proto = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
    if (proto !== "h2") throw new Error(`the page came over ${JSON.stringify(proto)}, not h2`);
    const url = await page.inputValue("#url");
    if (url !== `wss://${host}:${port}/`) throw new Error(`#url is ${JSON.stringify(url)}`);
    const m = await serverLine(/^\[([^\]]+)\] HTTP\/2\.0 GET \/ -> 200$/);
    pagePeer = m[1];
  }],
]);

scenario("first WebSocket: echo, then the browser closes", [
  ["Connect: the server takes it as an HTTP/2 extended CONNECT on the page's connection", async () => {
    await connect();
    const { peer } = sockets.at(-1);
    if (peer !== pagePeer) throw new Error(`the WebSocket came from ${peer}, the page from ${pagePeer}: not one connection`);
    await page.waitForFunction(() => document.getElementById("state").textContent === "1 OPEN", null, { timeout: stepTimeoutMs });
  }],
  ["a text message is echoed", async () => {
    const msg = "Hello over HTTP/2, κόσμε ✓";
    const n = await send(msg);
    const line = await waitLog(`message (text): ${msg}`, n);
    if (line.cls !== "in") throw new Error(`echo logged with class ${line.cls}`);
  }],
  ["a binary message is echoed", async () => {
    const msg = "binary over h2: ünïcödé 😀";
    await page.fill("#msg", msg);
    const n = await logLength();
    await page.click("#sendbin");
    await waitLog(`message (binary, ${Buffer.byteLength(msg, "utf8")} bytes): ${msg}`, n);
  }],
  ["close(4000, \"bye from the browser\"): CloseEvent 4000, the reason, wasClean=true; the server saw it too", async () => {
    const from = serverLines.length;
    const { id } = sockets.at(-1);
    await page.setChecked("#nocode", false);
    await page.setChecked("#noreason", false);
    await page.fill("#code", "4000");
    await page.fill("#reason", "bye from the browser");
    const n = await logLength();
    await page.click("#close");
    const line = await waitLog(/^CloseEvent /, n);
    const want = 'CloseEvent code=4000 reason="bye from the browser" wasClean=true';
    if (line.text !== want) throw new Error(`logged: ${line.text}\nwanted: ${want}`);
    await serverLine(new RegExp(`^\\[ws ${id}\\] closed: code 4000 reason "bye from the browser" was_clean true$`), from);
  }],
]);

scenario("second WebSocket: the server closes", [
  ["Connect again, on the same HTTP/2 connection", async () => {
    await connect();
    const { peer } = sockets.at(-1);
    if (peer !== pagePeer) throw new Error(`the WebSocket came from ${peer}, the page from ${pagePeer}: not one connection`);
  }],
  ["it echoes", async () => {
    const n = await send("second socket");
    await waitLog("message (text): second socket", n);
  }],
  ["\"/close 4001 server says bye\": CloseEvent 4001, the reason, wasClean=true; the server closed cleanly", async () => {
    const from = serverLines.length;
    const { id } = sockets.at(-1);
    const n = await send("/close 4001 server says bye");
    const line = await waitLog(/^CloseEvent /, n);
    const want = 'CloseEvent code=4001 reason="server says bye" wasClean=true';
    if (line.text !== want) throw new Error(`logged: ${line.text}\nwanted: ${want}`);
    await page.waitForFunction(() => document.getElementById("state").textContent === "3 CLOSED", null, { timeout: stepTimeoutMs });
    await serverLine(new RegExp(`^\\[ws ${id}\\] closing: code 4001 reason "server says bye"$`), from);
    await serverLine(new RegExp(`^\\[ws ${id}\\] closed: code 4001 reason "server says bye" was_clean true$`), from);
  }],
]);

scenario("whole session", [
  ["no error events, no page errors, every request on one HTTP/2 connection, no HTTP/1.1", async () => {
    const errs = (await logLines()).filter((l) => l.cls === "err");
    if (errs.length) throw new Error(`the log has errors: ${errs.map((l) => l.text).join("; ")}`);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
    if (sockets.length !== 2) throw new Error(`${sockets.length} WebSockets`);
    const h1 = serverLines.filter((l) => /^\[\d/.test(l) && (l.includes("HTTP/1.1") || l.includes("(upgrade)")));
    if (h1.length) throw new Error(`HTTP/1.1 requests: ${h1.join("\n")}`);
    const others = serverLines.filter((l) => /^\[\d/.test(l) && /(HTTP\/2|websocket)/.test(l) && !l.startsWith(`[${pagePeer}] `));
    if (others.length) throw new Error(`requests on another connection than the page's (${pagePeer}):\n${others.join("\n")}`);
    const bad = serverLines.filter((l) => l.includes("failed") || l.includes("not opened") || l.includes("refused"));
    if (bad.length) throw new Error(bad.join("\n"));
  }],
]);

// ---------------------------------------------------------------- main

async function main() {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
  await startServer();
  console.log(`h2_server ${serverBin} on ${host}:${port} (pid ${server.pid})`);

  profileDir = mkdtempSync(path.join(os.tmpdir(), "wsmachine-chromium-h2-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
    ignoreHTTPSErrors: true,
    timeout: 30_000,
    viewport: { width: 1000, height: 900 },
    locale: "en-US",
    timezoneId: "UTC",
  });
  console.log(`Chromium ${context.browser() ? context.browser().version() : ""} at ${chromiumPath}`);
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(stepTimeoutMs);
  page.setDefaultNavigationTimeout(stepTimeoutMs);
  page.on("pageerror", (e) => pageErrors.push(String(e)));

  for (const sc of scenarios) {
    console.log(`\n# ${sc.name}`);
    let broken = null;
    for (const [name, fn] of sc.steps) {
      if (broken) {
        notOk(name, `not run: an earlier step of this scenario failed (${broken})`);
        continue;
      }
      try {
        await withTimeout(fn(), 3 * stepTimeoutMs, name);
        ok(name);
      } catch (e) {
        notOk(name, e);
        broken = name;
      }
    }
  }
}

try {
  await main();
} catch (e) {
  notOk("setup", e);
}
clearTimeout(watchdog);
await finish();
