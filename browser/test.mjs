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
// The harness (Chromium, the server, reporting) is lib.mjs.

import path from "node:path";
import { clickClose, clickConnect, exampleBinary, echoSteps, expectCloseEvent, here, host, loadPage, logLines, page, pageErrors, readyState, run, scenario, send, serverLine, serverLines, stepTimeoutMs, utf8len, waitLog, waitState } from "./lib.mjs";

const port = Number(process.env.WS_BROWSER_PORT || 9012);
const origin = `http://${host}:${port}`;
const wsUrl = `ws://${host}:${port}/`;
const screenshotPath = path.join(here, "screenshot.png");

const connect = () => clickConnect(wsUrl, /^open \(protocol "", extensions ""\)$/);

// A 123-byte reason of one-, two-, three- and four-byte characters; Rust's
// {:?} prints all of them as they are, so the server's line shows it verbatim.
const REASON_123 = (() => {
  let s = "ünïcødé ✓ €uro 😀 ₿ 日本語 — Ωμέγα ";
  while (utf8len(s) + 3 <= 123) s += "€";
  while (utf8len(s) < 123) s += ".";
  return s;
})();

/** Clicks Close with a code or reason the browser must refuse; checks that the page logs the call throwing `exception`. */
async function closeThrows({ code, reason }, exception) {
  const n = await clickClose({ code, reason });
  const call = `close(${code}, ${JSON.stringify(reason)}) threw `;
  const line = await waitLog(new RegExp("^" + call.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), n);
  if (!line.text.startsWith(call + exception)) throw new Error(`logged: ${line.text}\nwanted: ${exception}`);
}

// ---------------------------------------------------------------- scenarios

scenario("first connection: echo and close(code, reason) rules", [
  ["page loads from the echo server", async () => {
    await loadPage(origin + "/", wsUrl);
    await serverLine("http GET / -> 200");
  }],
  ["Connect opens a WebSocket (log shows open, state 1 OPEN)", async () => {
    const from = serverLines.length;
    await connect();
    await waitState("1 OPEN");
    await serverLine("upgrade / (protocols [])", from);
    await serverLine("] open", from);
  }],
  ...echoSteps("Hello from Chromium, κόσμε ✓", "binary bytes: ünïcödé 😀"),
  ["close(1001, \"x\") throws InvalidAccessError", async () => {
    await closeThrows({ code: 1001, reason: "x" }, "InvalidAccessError");
  }],
  ["a 124-byte ASCII reason throws SyntaxError", async () => {
    await closeThrows({ code: 4000, reason: "r".repeat(124) }, "SyntaxError");
  }],
  ["a 124-byte reason of 42 characters (multi-byte) throws SyntaxError", async () => {
    const reason = "€".repeat(41) + "!";
    if (utf8len(reason) !== 124 || reason.length !== 42) throw new Error("bad fixture");
    await closeThrows({ code: 4000, reason }, "SyntaxError");
  }],
  ["after the throws the connection is still open and still echoes", async () => {
    const state = await readyState();
    if (state !== "1 OPEN") throw new Error(`readyState is ${state}`);
    const n = await send("still here");
    await waitLog("message (text): still here", n);
  }],
  ["close(4000, \"bye from the browser\") gives CloseEvent 4000, the reason, wasClean=true", async () => {
    const from = serverLines.length;
    const n = await clickClose({ code: 4000, reason: "bye from the browser" });
    await waitLog('close(4000, "bye from the browser")', n);
    await expectCloseEvent('CloseEvent code=4000 reason="bye from the browser" wasClean=true', n);
    await waitState("3 CLOSED");
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
    const n = await clickClose({});
    await waitLog("close()", n);
    await expectCloseEvent('CloseEvent code=1005 reason="" wasClean=true', n);
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
    const n = await clickClose({ code: 1000, reason: REASON_123 });
    if ((await page.inputValue("#reason")) !== REASON_123) throw new Error("the reason input does not hold the reason");
    await waitLog(`close(1000, ${JSON.stringify(REASON_123)})`, n);
    await expectCloseEvent(`CloseEvent code=1000 reason=${JSON.stringify(REASON_123)} wasClean=true`, n);
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

await run({
  summary: "browser",
  serverName: "echo_server",
  serverBin: exampleBinary("ECHO_SERVER", "echo_server"),
  build: ["build", "--release", "--example", "echo_server"],
  port,
  portEnv: "WS_BROWSER_PORT",
  readyLine: "wsmachine echo server:",
  profilePrefix: "wsmachine-chromium-",
});
