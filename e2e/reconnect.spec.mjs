// Reconnection after a real server restart: a page connects to a second reference server
// (started here), which is killed mid-session and started again on the same port. The
// session must come back by itself, and quickly: the SDK probes the server during its
// backoff and reconnects as soon as it answers. Prints how long after the server was back
// the session was connected again (a figure, not a pass/fail bound). Run by
// scripts/e2e-tests.sh inside a loopback-only network namespace.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BASE, launch, waitFor } from "./lib.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PORT = Number(new URL(BASE).port) + 1;
const T = { timeout: 120_000 };
const ROUNDS = 3;

let browser;
let server;
before(async () => {
  browser = await launch();
});
after(async () => {
  server?.kill("SIGKILL");
  await browser?.close();
});

/** Starts the second server; resolves at the time (Date.now()) it first answers /healthz. */
async function start() {
  server = spawn(path.join(root, "target/server/realtime-reference-server"), ["--host", "127.0.0.1", "--port", String(PORT)], {
    stdio: "ignore",
    env: { ...process.env, RUST_LOG: "warn" },
  });
  for (let i = 0; i < 400; i++) {
    try {
      await fetch(`http://127.0.0.1:${PORT}/healthz`);
      return Date.now();
    } catch {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  throw new Error(`the server on port ${PORT} did not come up`);
}

async function stop() {
  const exited = new Promise((r) => server.once("exit", r));
  server.kill("SIGKILL");
  await exited;
}

describe("a session across server restarts", () => {
  it(`reconnects by itself after each of ${ROUNDS} restarts`, T, async () => {
    await start();
    const page = await browser.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${BASE}/`);
    await page.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
    await page.evaluate(async (port) => {
      const { createDecartClient, models } = await import("/pkg/index.js");
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
      const client = await createDecartClient({ realtimeBaseUrl: `ws://127.0.0.1:${port}`, apiKey: "reconnect-key" }).realtime.connect(stream, {
        model: models.realtime("mirage"),
        onRemoteStream: () => {},
      });
      window.states = [];
      window.errors = [];
      client.on("connectionChange", (s) => window.states.push([s, Date.now()]));
      client.on("error", (e) => window.errors.push(e.code));
      window.client = client;
    }, PORT);
    for (let round = 1; round <= ROUNDS; round++) {
      await stop();
      const killed = Date.now();
      await waitFor(page, "reconnecting", () => window.states.some(([s]) => s === "reconnecting"));
      // Down long enough for the first attempts to fail and the backoff to start.
      await new Promise((r) => setTimeout(r, 1500));
      const back = await start();
      const connectedAt = await waitFor(page, "connected again", (since) => window.states.find(([s, t]) => t >= since && (s === "connected" || s === "generating"))?.[1], { arg: back, timeout: 30_000 });
      console.log(`  round ${round}: connected ${connectedAt - back} ms after the server was back (${connectedAt - killed} ms after the kill)`);
      assert.ok(await page.evaluate(() => window.client.isConnected()));
      await page.evaluate(() => {
        window.states = [];
      });
    }
    assert.deepEqual(await page.evaluate(() => window.errors), [], "no error event: the session never gave up");
    await page.evaluate(() => window.client.disconnect());
    assert.deepEqual(problems, []);
    await page.close();
  });
});
