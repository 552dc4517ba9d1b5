#!/usr/bin/env node
// Captures real Chromium getStats() reports as test fixtures for src/core/stats.rs.
//
// Serves page.html on 127.0.0.1, starts chromedriver, which starts headless Chromium with a
// fake camera and microphone, runs capture() in the page through the W3C WebDriver HTTP API
// and writes the reports to tests/fixtures/stats/. No npm dependencies (node >= 18: fetch).
//
// Run it inside a loopback-only network namespace (see README.md):
//   unshare --net bash -c 'ip link set lo up && exec node scripts/capture-stats-fixtures/capture.mjs'
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, "../../tests/fixtures/stats");
const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
const chromedriver = process.env.CHROMEDRIVER ?? "/usr/bin/chromedriver";
const driverPort = Number(process.env.CHROMEDRIVER_PORT ?? 9515);
const warmupMs = Number(process.env.WARMUP_MS ?? 6000);
const gapMs = Number(process.env.GAP_MS ?? 1000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// 1. The page, on an ephemeral loopback port.
const page = readFileSync(join(here, "page.html"));
const server = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(page);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

// 2. chromedriver, waited for until /status answers ready.
const driver = spawn(chromedriver, [`--port=${driverPort}`, "--allowed-ips=127.0.0.1"], {
  stdio: ["ignore", "ignore", "inherit"],
});
const base = `http://127.0.0.1:${driverPort}`;
async function wd(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}
for (let i = 0; ; i++) {
  try {
    if ((await wd("GET", "/status")).ready) break;
  } catch (e) {
    if (i > 100) throw e;
  }
  await sleep(100);
}

const profile = mkdtempSync(join(tmpdir(), "stats-capture-profile-"));
let sessionId;
let exitCode = 0;
try {
  // 3. Headless Chromium with fake media devices.
  const session = await wd("POST", "/session", {
    capabilities: {
      alwaysMatch: {
        browserName: "chrome",
        "goog:chromeOptions": {
          binary: chromium,
          args: [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--autoplay-policy=no-user-gesture-required",
            `--user-data-dir=${profile}`,
          ],
        },
      },
    },
  });
  sessionId = session.sessionId;
  const s = `/session/${sessionId}`;
  await wd("POST", `${s}/timeouts`, { script: warmupMs + gapMs + 30000 });
  await wd("POST", `${s}/url`, { url: pageUrl });

  // 4. Run the capture in the page.
  const result = await wd("POST", `${s}/execute/async`, {
    script: "const done = arguments[arguments.length - 1];" +
      "capture(arguments[0], arguments[1]).then(done, (e) => done({ error: String(e) }));",
    args: [warmupMs, gapMs],
  });
  if (result.error) throw new Error(`capture() failed in the page: ${result.error}`);

  // 5. Write the fixtures: one JSON array of stats objects per file.
  mkdirSync(outDir, { recursive: true });
  const write = (name, value) => {
    const file = join(outDir, name);
    writeFileSync(file, JSON.stringify(value, null, 1) + "\n");
    console.log(`wrote ${file}`);
  };
  write("chromium-receiver-1.json", result.first.receiver);
  write("chromium-receiver-2.json", result.second.receiver);
  write("chromium-sender-1.json", result.first.sender);
  write("chromium-sender-2.json", result.second.sender);
  write("capture-info.json", result.info);
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  if (sessionId) await wd("DELETE", `/session/${sessionId}`).catch(() => {});
  driver.kill();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(exitCode);
