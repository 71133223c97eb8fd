// Real-browser end-to-end test of examples/echo_server.rs and its page
// (examples/echo_page.html), in Debian's Chromium driven by playwright-core.
//
// It starts the release echo_server on 127.0.0.1:9012, opens its page and acts
// as a person would: clicks Connect, sends text and binary messages, and
// exercises the browser's own close(code, reason) rules through the page's
// inputs, reading what the page logs and what the server prints.
//
//   node browser/test.mjs            (after `npm ci` in browser/)
//
// Environment: CHROMIUM (default /usr/bin/chromium), WS_BROWSER_PORT (9012),
// WS_BROWSER_TIMEOUT_S (overall watchdog, 120), ECHO_SERVER (path to a built
// echo_server; default target/release/examples/echo_server, built if missing).
//
// Ends with `browser: N passed, N failed`; exits non-zero on any failure.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const startedAt = Date.now();
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const port = Number(process.env.WS_BROWSER_PORT || 9012);
const host = "127.0.0.1";
const origin = `http://${host}:${port}`;
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const overallTimeoutMs = Number(process.env.WS_BROWSER_TIMEOUT_S || 120) * 1000;
const stepTimeoutMs = 10_000;
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, "target");
const serverBin = process.env.ECHO_SERVER || path.join(targetDir, "release", "examples", "echo_server");
const screenshotPath = path.join(here, "screenshot.png");

// The flags that work on a machine with no network but the package registries.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// ---------------------------------------------------------------- bookkeeping

let passed = 0;
let failed = 0;
let server = null;
let context = null;
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
  if (failed > 0) {
    console.log("\n--- echo_server output ---");
    for (const l of serverLines) console.log(l);
  }
  if (context && !hurry) {
    await Promise.race([context.close().catch(() => {}), sleep(5000)]);
  }
  killServer();
  removeProfile();
  console.log(`\ntest time ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  console.log(`browser: ${passed} passed, ${failed} failed`);
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

function ensureServerBinary() {
  if (existsSync(serverBin)) return;
  console.log(`${serverBin} is missing; building it: cargo build --release --example echo_server`);
  const r = spawnSync("cargo", ["build", "--release", "--example", "echo_server"], {
    cwd: root,
    stdio: "inherit",
    timeout: 15 * 60_000,
  });
  if (r.status !== 0 || !existsSync(serverBin)) {
    throw new Error(`cargo build failed (status ${r.status}, signal ${r.signal}, error ${r.error})`);
  }
}

async function startServer() {
  if (await portAnswers()) throw new Error(`something already listens on ${host}:${port}; stop it or set WS_BROWSER_PORT`);
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
    while (!serverLines.some((l) => l.startsWith("wsmachine echo server:"))) await sleep(20);
  })();
  const first = await withTimeout(Promise.race([ready.then(() => null), exited]), stepTimeoutMs, "echo_server start");
  if (first) throw new Error(`echo_server exited at start (code ${first.code}, signal ${first.sig}): ${serverLines.join(" | ")}`);
}

/** Waits for a line of the server's output that contains `text`, after line `from`. */
async function serverLine(text, from = 0, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = serverLines.findIndex((l, j) => j >= from && l.includes(text));
    if (i >= 0) return i;
    if (Date.now() > deadline) throw new Error(`the server did not print ${JSON.stringify(text)}; it printed:\n${serverLines.slice(from).join("\n")}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------- the page

let page;

/** The page's log, each line without its leading time stamp. */
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

async function readyState() {
  // The page refreshes #state every 250 ms and on every event.
  return (await page.textContent("#state")).trim();
}

async function setClose({ code, reason }) {
  await page.setChecked("#nocode", code === undefined);
  await page.setChecked("#noreason", reason === undefined);
  if (code !== undefined) await page.fill("#code", String(code));
  if (reason !== undefined) await page.fill("#reason", reason);
}

async function connect() {
  const n = await logLength();
  await page.click("#connect");
  await waitLog(`new WebSocket("ws://${host}:${port}/")`, n);
  await waitLog(/^open \(protocol "", extensions ""\)$/, n);
  return n;
}

const utf8len = (s) => Buffer.byteLength(s, "utf8");

// A 123-byte reason of one-, two-, three- and four-byte characters; Rust's
// {:?} prints all of them as they are, so the server's line shows it verbatim.
const REASON_123 = (() => {
  let s = "ünïcødé ✓ €uro 😀 ₿ 日本語 — Ωμέγα ";
  while (utf8len(s) + 3 <= 123) s += "€";
  while (utf8len(s) < 123) s += ".";
  return s;
})();

// ---------------------------------------------------------------- scenarios

const scenarios = [];
const scenario = (name, steps) => scenarios.push({ name, steps });

scenario("first connection: echo and close(code, reason) rules", [
  ["page loads from the echo server", async () => {
    const resp = await page.goto(origin + "/", { waitUntil: "load" });
    if (!resp || resp.status() !== 200) throw new Error(`GET / answered ${resp && resp.status()}`);
    if ((await page.title()) !== "wsmachine echo") throw new Error(`title is ${JSON.stringify(await page.title())}`);
    const url = await page.inputValue("#url");
    if (url !== `ws://${host}:${port}/`) throw new Error(`#url is ${JSON.stringify(url)}`);
    await serverLine("http GET / -> 200");
  }],
  ["Connect opens a WebSocket (log shows open, state 1 OPEN)", async () => {
    const from = serverLines.length;
    await connect();
    await page.waitForFunction(() => document.getElementById("state").textContent === "1 OPEN", null, { timeout: stepTimeoutMs });
    await serverLine("upgrade / (protocols [])", from);
    await serverLine("] open", from);
  }],
  ["a text message is echoed", async () => {
    const msg = "Hello from Chromium, κόσμε ✓";
    await page.fill("#msg", msg);
    const n = await logLength();
    await page.click("#send");
    await waitLog(`send(text): ${msg}`, n);
    const line = await waitLog(`message (text): ${msg}`, n);
    if (line.cls !== "in") throw new Error(`echo logged with class ${line.cls}`);
  }],
  ["a binary message is echoed", async () => {
    const msg = "binary bytes: ünïcödé 😀";
    await page.fill("#msg", msg);
    const n = await logLength();
    await page.click("#sendbin");
    await waitLog(`send(binary): ${msg}`, n);
    await waitLog(`message (binary, ${utf8len(msg)} bytes): ${msg}`, n);
  }],
  ["close(1001, \"x\") throws InvalidAccessError", async () => {
    await setClose({ code: 1001, reason: "x" });
    const n = await logLength();
    await page.click("#close");
    const line = await waitLog(/^close\(1001, "x"\) threw /, n);
    if (!line.text.startsWith('close(1001, "x") threw InvalidAccessError')) throw new Error(`logged: ${line.text}\nwanted: InvalidAccessError`);
  }],
  ["a 124-byte ASCII reason throws SyntaxError", async () => {
    const reason = "r".repeat(124);
    await setClose({ code: 4000, reason });
    const n = await logLength();
    await page.click("#close");
    const line = await waitLog(/^close\(4000, ".*"\) threw /, n);
    if (!line.text.includes(") threw SyntaxError")) throw new Error(`logged: ${line.text}\nwanted: SyntaxError`);
  }],
  ["a 124-byte reason of 42 characters (multi-byte) throws SyntaxError", async () => {
    const reason = "€".repeat(41) + "!";
    if (utf8len(reason) !== 124 || reason.length !== 42) throw new Error("bad fixture");
    await setClose({ code: 4000, reason });
    const n = await logLength();
    await page.click("#close");
    const line = await waitLog(/^close\(4000, ".*"\) threw /, n);
    if (!line.text.includes(") threw SyntaxError")) throw new Error(`logged: ${line.text}\nwanted: SyntaxError`);
  }],
  ["after the throws the connection is still open and still echoes", async () => {
    const state = await readyState();
    if (state !== "1 OPEN") throw new Error(`readyState is ${state}`);
    await page.fill("#msg", "still here");
    const n = await logLength();
    await page.click("#send");
    await waitLog("message (text): still here", n);
  }],
  ["close(4000, \"bye from the browser\") gives CloseEvent 4000, the reason, wasClean=true", async () => {
    const from = serverLines.length;
    await setClose({ code: 4000, reason: "bye from the browser" });
    const n = await logLength();
    await page.click("#close");
    await waitLog('close(4000, "bye from the browser")', n);
    const line = await waitLog(/^CloseEvent /, n);
    const want = 'CloseEvent code=4000 reason="bye from the browser" wasClean=true';
    if (line.text !== want) throw new Error(`logged: ${line.text}\nwanted: ${want}`);
    await page.waitForFunction(() => document.getElementById("state").textContent === "3 CLOSED", null, { timeout: stepTimeoutMs });
    await serverLine('peer closing: code 4000 reason "bye from the browser"', from);
    await serverLine('closed: code 4000 reason "bye from the browser" was_clean true', from);
  }],
]);

scenario("second connection: close() with no code and no reason", [
  ["Connect again", async () => {
    await connect();
  }],
  ["close() gives CloseEvent 1005, empty reason, wasClean=true", async () => {
    const from = serverLines.length;
    await setClose({});
    const n = await logLength();
    await page.click("#close");
    await waitLog("close()", n);
    const line = await waitLog(/^CloseEvent /, n);
    const want = 'CloseEvent code=1005 reason="" wasClean=true';
    if (line.text !== want) throw new Error(`logged: ${line.text}\nwanted: ${want}`);
    await serverLine('closed: code 1005 reason "" was_clean true', from);
  }],
]);

scenario("third connection: close(1000) with a 123-byte multi-byte reason", [
  ["Connect a third time", async () => {
    await connect();
  }],
  [`close(1000, <123 bytes, ${REASON_123.length} UTF-16 units>) is echoed exactly`, async () => {
    if (utf8len(REASON_123) !== 123) throw new Error(`bad fixture: ${utf8len(REASON_123)} bytes`);
    const from = serverLines.length;
    await setClose({ code: 1000, reason: REASON_123 });
    if ((await page.inputValue("#reason")) !== REASON_123) throw new Error("the reason input does not hold the reason");
    const n = await logLength();
    await page.click("#close");
    await waitLog(`close(1000, ${JSON.stringify(REASON_123)})`, n);
    const line = await waitLog(/^CloseEvent /, n);
    const want = `CloseEvent code=1000 reason=${JSON.stringify(REASON_123)} wasClean=true`;
    if (line.text !== want) throw new Error(`logged: ${line.text}\nwanted: ${want}`);
    await serverLine(`closed: code 1000 reason "${REASON_123}" was_clean true`, from);
  }],
]);

scenario("whole session", [
  ["no error events and no uncaught page errors", async () => {
    const errs = (await logLines()).filter((l) => l.cls === "err" && !l.text.includes(" threw "));
    if (errs.length) throw new Error(`the log has errors: ${errs.map((l) => l.text).join("; ")}`);
    if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
  }],
  ["the server logged three clean WebSocket closes and no transport error", async () => {
    // Lines start with "[peer] "; a peer that upgraded is a WebSocket
    // connection. (The page's own HTTP requests end with a 1006 Closed too.)
    const peerOf = (l) => l.slice(0, l.indexOf("]") + 1);
    const wsPeers = new Set(serverLines.filter((l) => l.includes("] upgrade ")).map(peerOf));
    const closed = serverLines.filter((l) => wsPeers.has(peerOf(l)) && l.includes("] closed: "));
    if (wsPeers.size !== 3 || closed.length !== 3) throw new Error(`${wsPeers.size} upgrades, ${closed.length} closed lines:\n${closed.join("\n")}`);
    const unclean = closed.filter((l) => !l.endsWith(" was_clean true"));
    if (unclean.length) throw new Error(unclean.join("\n"));
    const bad = serverLines.filter((l) => l.includes("transport error") || l.includes("cannot accept"));
    if (bad.length) throw new Error(bad.join("\n"));
  }],
]);

scenario("screenshot", [
  ["screenshot saved to browser/screenshot.png", async () => {
    await page.screenshot({ path: screenshotPath, fullPage: true, timeout: stepTimeoutMs });
  }],
]);

// ---------------------------------------------------------------- main

async function main() {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
  ensureServerBinary();
  await startServer();
  console.log(`echo_server ${serverBin} on ${host}:${port} (pid ${server.pid})`);

  profileDir = mkdtempSync(path.join(os.tmpdir(), "wsmachine-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
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
