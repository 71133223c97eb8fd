// What the browser end-to-end tests (test.mjs, h2_test.mjs) share: Debian's
// Chromium driven by playwright-core with the flags that work on a machine
// with no network but the package registries, the server under test started
// and always killed, the echo page's log read and its inputs filled, steps
// grouped in scenarios and reported `ok`/`not ok`, a watchdog, and the
// summary line `<summary>: N passed, N failed` (exit status non-zero on any
// failure).
//
// A test declares its scenarios with `scenario(name, [[step, fn], ...])`
// and then awaits `run({...})` (see its options below). `page` is the page
// once `run` has launched Chromium (an ES module's live binding).
//
// Environment: CHROMIUM (default /usr/bin/chromium), WS_BROWSER_TIMEOUT_S
// (overall watchdog, 120); each test names its own port and server variables.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const startedAt = Date.now();
export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..");
export const host = "127.0.0.1";
export const stepTimeoutMs = 10_000;
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const overallTimeoutMs = Number(process.env.WS_BROWSER_TIMEOUT_S || 120) * 1000;

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

/** The release example `name`: `$envVar` if set, else under CARGO_TARGET_DIR (or target/). */
export function exampleBinary(envVar, name) {
  if (process.env[envVar]) return process.env[envVar];
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, "target");
  return path.join(targetDir, "release", "examples", name);
}

export const utf8len = (s) => Buffer.byteLength(s, "utf8");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- bookkeeping

/** Every line the server printed, stdout and stderr, in order. */
export const serverLines = [];
/** The page's uncaught errors. */
export const pageErrors = [];
/** The page, once `run` has launched Chromium. */
export let page = null;

let opts = null;
let passed = 0;
let failed = 0;
let server = null;
let context = null;
let profileDir = null;

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

let finishing = false;
async function finish(extraFailures = 0, hurry = false) {
  if (finishing) return;
  finishing = true;
  failed += extraFailures;
  if (failed > 0 || opts.alwaysShowServerOutput) {
    console.log(`\n--- ${opts.serverName} output ---`);
    for (const l of serverLines) console.log(l);
  }
  if (context && !hurry) {
    await Promise.race([context.close().catch(() => {}), sleep(5000)]);
  }
  killServer();
  removeProfile();
  console.log(`\ntest time ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  console.log(`${opts.summary}: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

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
    const s = net.connect({ host, port: opts.port });
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
  const { serverBin, build } = opts;
  if (existsSync(serverBin)) return;
  console.log(`${serverBin} is missing; building it: cargo ${build.join(" ")}`);
  const r = spawnSync("cargo", build, { cwd: root, stdio: "inherit", timeout: 30 * 60_000 });
  if (r.status !== 0 || !existsSync(serverBin)) {
    throw new Error(`cargo build failed (status ${r.status}, signal ${r.signal}, error ${r.error})`);
  }
}

async function startServer() {
  const { serverBin, serverName, port } = opts;
  if (await portAnswers()) throw new Error(`something already listens on ${host}:${port}; stop it or set ${opts.portEnv}`);
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
    while (!serverLines.some((l) => l.startsWith(opts.readyLine))) await sleep(20);
  })();
  const first = await withTimeout(Promise.race([ready.then(() => null), exited]), stepTimeoutMs, `${serverName} start`);
  if (first) throw new Error(`${serverName} exited at start (code ${first.code}, signal ${first.sig}): ${serverLines.join(" | ")}`);
}

/**
 * Waits for a server line, at index >= from, that contains `pattern` (a
 * string) or matches it (a RegExp); returns the RegExp's match, or `[line]`.
 */
export async function serverLine(pattern, from = 0, ms = 5000) {
  const match = pattern instanceof RegExp ? (l) => pattern.exec(l) : (l) => (l.includes(pattern) ? [l] : null);
  const deadline = Date.now() + ms;
  for (;;) {
    for (let i = from; i < serverLines.length; i++) {
      const m = match(serverLines[i]);
      if (m) return m;
    }
    if (Date.now() > deadline) {
      const what = pattern instanceof RegExp ? pattern : JSON.stringify(pattern);
      throw new Error(`the server never printed ${what}; after line ${from} it printed:\n${serverLines.slice(from).join("\n")}`);
    }
    await sleep(25);
  }
}

// ---------------------------------------------------------------- the page

/** The page's log, each line without its leading time stamp. */
export async function logLines() {
  return page.$$eval("#log > div", (divs) =>
    divs.map((d) => ({ cls: d.className, text: d.textContent.replace(/^.*?  /s, "") })),
  );
}

/** Waits for a log line equal to `text` (or matching a RegExp), at index >= from. */
export async function waitLog(text, from, ms = stepTimeoutMs) {
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

export async function logLength() {
  return page.$$eval("#log > div", (divs) => divs.length);
}

/** The page's readyState display (refreshed every 250 ms and on every event). */
export async function readyState() {
  return (await page.textContent("#state")).trim();
}

/** Waits until the page shows readyState `state`, e.g. "1 OPEN". */
export async function waitState(state) {
  await page.waitForFunction((s) => document.getElementById("state").textContent === s, state, { timeout: stepTimeoutMs });
}

/**
 * Loads the echo page from `url`: 200, its title, and `wsUrl` pre-filled as
 * the WebSocket URL. Returns the response.
 */
export async function loadPage(url, wsUrl) {
  const resp = await page.goto(url, { waitUntil: "load" });
  if (!resp || resp.status() !== 200) throw new Error(`GET / answered ${resp && resp.status()}`);
  if ((await page.title()) !== "wsmachine echo") throw new Error(`title is ${JSON.stringify(await page.title())}`);
  const shown = await page.inputValue("#url");
  if (shown !== wsUrl) throw new Error(`#url is ${JSON.stringify(shown)}`);
  return resp;
}

/** Clicks Connect; waits for the page to log the WebSocket to `wsUrl` and an open matching `openRe`. Returns the log length before. */
export async function clickConnect(wsUrl, openRe) {
  const n = await logLength();
  await page.click("#connect");
  await waitLog(`new WebSocket(${JSON.stringify(wsUrl)})`, n);
  await waitLog(openRe, n);
  return n;
}

/** Types `text` and clicks `button`; waits for the page's `send(<kind>): text`. Returns the log length before. */
async function sendFrom(button, kind, text) {
  await page.fill("#msg", text);
  const n = await logLength();
  await page.click(button);
  await waitLog(`send(${kind}): ${text}`, n);
  return n;
}

/** Sends `text` as a text message; returns the log length before. */
export const send = (text) => sendFrom("#send", "text", text);

/** The steps "a text message is echoed" and "a binary message is echoed", with these messages. */
export function echoSteps(text, binary) {
  return [
    ["a text message is echoed", async () => {
      const n = await send(text);
      const line = await waitLog(`message (text): ${text}`, n);
      if (line.cls !== "in") throw new Error(`echo logged with class ${line.cls}`);
    }],
    ["a binary message is echoed", async () => {
      const n = await sendFrom("#sendbin", "binary", binary);
      await waitLog(`message (binary, ${utf8len(binary)} bytes): ${binary}`, n);
    }],
  ];
}

/** Fills the close inputs (a missing code or reason: its "none" box checked) and clicks Close; returns the log length before. */
export async function clickClose({ code, reason }) {
  await page.setChecked("#nocode", code === undefined);
  await page.setChecked("#noreason", reason === undefined);
  if (code !== undefined) await page.fill("#code", String(code));
  if (reason !== undefined) await page.fill("#reason", reason);
  const n = await logLength();
  await page.click("#close");
  return n;
}

/** Waits for the page's CloseEvent line, at index >= from, and checks that it is `want`. */
export async function expectCloseEvent(want, from) {
  const line = await waitLog(/^CloseEvent /, from);
  if (line.text !== want) throw new Error(`logged: ${line.text}\nwanted: ${want}`);
}

// ---------------------------------------------------------------- scenarios

const scenarios = [];
/** A scenario: steps `[name, async fn]` run in order; after a failed one the rest are reported failed, "not run". */
export const scenario = (name, steps) => scenarios.push({ name, steps });

/**
 * Runs the declared scenarios against the server, then prints the summary and
 * exits. Options:
 * - summary: the summary line's label ("browser" gives `browser: N passed, N failed`)
 * - serverName, serverBin, build (cargo's arguments to build a missing serverBin)
 * - port, portEnv (the variable that sets it, for the message when the port is taken)
 * - readyLine: the start of the line the server prints once it listens
 * - alwaysShowServerOutput: print the server's output on success too (else on a failure only)
 * - profilePrefix: of Chromium's temporary profile folder
 * - chromiumArgs, contextOptions: on top of the shared ones
 */
export async function run(options) {
  opts = options;
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
  const watchdog = setTimeout(() => {
    console.log(`\nwatchdog: the test took longer than ${overallTimeoutMs / 1000} s; giving up`);
    finish(1, true);
  }, overallTimeoutMs);
  try {
    await main();
  } catch (e) {
    notOk("setup", e);
  }
  clearTimeout(watchdog);
  await finish();
}

async function main() {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
  ensureServerBinary();
  await startServer();
  console.log(`${opts.serverName} ${opts.serverBin} on ${host}:${opts.port} (pid ${server.pid})`);

  profileDir = mkdtempSync(path.join(os.tmpdir(), opts.profilePrefix));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(opts.chromiumArgs || [])],
    timeout: 30_000,
    viewport: { width: 1000, height: 900 },
    locale: "en-US",
    timezoneId: "UTC",
    ...opts.contextOptions,
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
