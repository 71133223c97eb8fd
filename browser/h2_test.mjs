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
// built h2_server; default target/release/examples/h2_server, built if missing).
//
// Ends with `browser-h2: N passed, N failed`; exits non-zero on any failure.
// The harness (Chromium, the server, reporting) is lib.mjs.

import { clickClose, clickConnect, exampleBinary, echoSteps, expectCloseEvent, host, loadPage, logLines, page, pageErrors, run, scenario, send, serverLine, serverLines, waitLog, waitState } from "./lib.mjs";

const port = Number(process.env.WS_BROWSER_H2_PORT || 9013);
const origin = `https://${host}:${port}`;
const wsUrl = `wss://${host}:${port}/`;

// The client address of the page's HTTP/2 connection, as the server printed it.
let pagePeer = null;
// The WebSockets the server accepted: { peer, id }.
const sockets = [];

/**
 * Clicks Connect; checks the page's open and that the server took it as an
 * HTTP/2 extended CONNECT on the page's own connection. Returns its id.
 */
async function connect() {
  const from = serverLines.length;
  await clickConnect(wsUrl, /^open \(protocol "", extensions "permessage-deflate[^"]*"\)$/);
  const m = await serverLine(/^\[([^\]]+)\] websocket (\d+) over (.*) \/$/, from);
  if (m[3] !== "HTTP/2 (extended CONNECT) https") throw new Error(`the server took the WebSocket over ${m[3]}, not HTTP/2's extended CONNECT`);
  // The example is built with permessage-deflate (feature deflate):
  // Chromium offers it and the server accepts it on this path too.
  await serverLine(new RegExp(`^\\[ws ${m[2]}\\] open: .*name: "permessage-deflate"`), from);
  sockets.push({ peer: m[1], id: m[2] });
  if (m[1] !== pagePeer) throw new Error(`the WebSocket came from ${m[1]}, the page from ${pagePeer}: not one connection`);
  return m[2];
}

// ---------------------------------------------------------------- scenarios

scenario("the page comes over HTTP/2", [
  ["GET / over HTTPS answers 200 with the echo page, negotiated h2", async () => {
    await loadPage(origin + "/", wsUrl);
    const proto = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
    if (proto !== "h2") throw new Error(`the page came over ${JSON.stringify(proto)}, not h2`);
    const m = await serverLine(/^\[([^\]]+)\] HTTP\/2\.0 GET \/ -> 200$/);
    pagePeer = m[1];
  }],
]);

scenario("first WebSocket: echo, then the browser closes", [
  ["Connect: the server takes it as an HTTP/2 extended CONNECT on the page's connection", async () => {
    await connect();
    await waitState("1 OPEN");
  }],
  ...echoSteps("Hello over HTTP/2, κόσμε ✓", "binary over h2: ünïcödé 😀"),
  ["close(4000, \"bye from the browser\"): CloseEvent 4000, the reason, wasClean=true; the server saw it too", async () => {
    const from = serverLines.length;
    const { id } = sockets.at(-1);
    const n = await clickClose({ code: 4000, reason: "bye from the browser" });
    await expectCloseEvent('CloseEvent code=4000 reason="bye from the browser" wasClean=true', n);
    await serverLine(new RegExp(`^\\[ws ${id}\\] closed: code 4000 reason "bye from the browser" was_clean true$`), from);
  }],
]);

scenario("second WebSocket: the server closes", [
  ["Connect again, on the same HTTP/2 connection", async () => {
    await connect();
  }],
  ["it echoes", async () => {
    const n = await send("second socket");
    await waitLog("message (text): second socket", n);
  }],
  ["\"/close 4001 server says bye\": CloseEvent 4001, the reason, wasClean=true; the server closed cleanly", async () => {
    const from = serverLines.length;
    const { id } = sockets.at(-1);
    const n = await send("/close 4001 server says bye");
    await expectCloseEvent('CloseEvent code=4001 reason="server says bye" wasClean=true', n);
    await waitState("3 CLOSED");
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

await run({
  summary: "browser-h2",
  serverName: "h2_server",
  serverBin: exampleBinary("H2_SERVER", "h2_server"),
  build: ["build", "--release", "-p", "wsmachine-tokio", "--features", "http2,rustls,deflate", "--example", "h2_server"],
  port,
  portEnv: "WS_BROWSER_H2_PORT",
  readyLine: "wsmachine-tokio h2 server:",
  alwaysShowServerOutput: true,
  profilePrefix: "wsmachine-chromium-h2-",
  // The self-signed certificate. No flag is needed for WebSockets over
  // HTTP/2: Chromium uses them by default.
  chromiumArgs: ["--ignore-certificate-errors"],
  contextOptions: { ignoreHTTPSErrors: true },
});
