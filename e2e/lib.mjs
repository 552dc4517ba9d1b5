// Helpers of the end-to-end tests: Debian's Chromium driven by playwright-core (from the
// project's .tools/), the test page opened with watchers for CSP violations and uncaught
// errors, and waits that report what the page showed when they time out.
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { chromium } = createRequire(path.join(root, ".tools/node_modules/"))("playwright-core");

/** Where the page under test is served (scripts/e2e-tests.sh starts the server there). */
export const BASE = process.env.E2E_BASE ?? "http://127.0.0.1:8788";
export const ARTIFACTS = path.join(root, process.env.E2E_ARTIFACTS ?? "test-artifacts");

/** Chromium flags: fake camera and microphone, loopback ICE, no network chatter. */
const ARGS = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection",
  "--autoplay-policy=no-user-gesture-required",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ARGS });
}

/**
 * Opens the test page in a fresh context. `problems` collects CSP violations and uncaught
 * page errors (each a string) for the whole life of the page.
 */
export async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1300 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && process.env.E2E_VERBOSE) console.log(`  [page console] ${m.text()}`);
  });
  await page.exposeFunction("__e2eCspViolation", (text) => problems.push(`CSP: ${text}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__e2eCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const response = await page.goto(`${BASE}/`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
  return { page, problems, response };
}

/**
 * Polls `fn(arg)` in the page until `ok(value)`; on timeout fails with `what` and the last
 * value seen, so a failure says what the page showed.
 */
export async function waitFor(page, what, fn, { arg, ok = Boolean, timeout = 20_000, every = 250 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await page.evaluate(fn, arg);
    if (ok(last)) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Waits until the text of `selector` matches `re`; returns it. */
export function waitForText(page, selector, re, timeout) {
  return waitFor(page, `${selector} to match ${re}`, (s) => document.querySelector(s)?.textContent ?? null, {
    arg: selector,
    ok: (t) => t != null && re.test(t),
    timeout,
  });
}

/** Decoded frames of a <video> over `ms`: {before, after, width, height}. */
export async function framesOver(page, selector, ms = 1500) {
  const read = (s) => {
    const v = document.querySelector(s);
    return { frames: v?.getVideoPlaybackQuality?.().totalVideoFrames ?? 0, time: v?.currentTime ?? 0, width: v?.videoWidth ?? 0, height: v?.videoHeight ?? 0 };
  };
  const a = await page.evaluate(read, selector);
  await new Promise((r) => setTimeout(r, ms));
  const b = await page.evaluate(read, selector);
  return { before: a.frames, after: b.frames, timeBefore: a.time, timeAfter: b.time, width: b.width, height: b.height };
}

/** Text of the stats panel row `key`. */
export function statsCell(page, key) {
  return page.evaluate((k) => document.querySelector(`#stats tr[data-key="${k}"] td`)?.textContent ?? null, key);
}

/**
 * What a chart shows: its sample count, and how many canvas pixels have the color of each
 * legend swatch (the drawn lines).
 */
export function chartInk(page, id) {
  return page.evaluate((chartId) => {
    const canvas = document.getElementById(chartId);
    const legend = canvas.parentElement.querySelectorAll(".swatch");
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const ink = {};
    for (const sw of legend) {
      const [r, g, b] = getComputedStyle(sw).backgroundColor.match(/\d+/g).map(Number);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - r) < 12 && Math.abs(data[i + 1] - g) < 12 && Math.abs(data[i + 2] - b) < 12) n++;
      }
      ink[sw.className.replace(/.*swatch-/, "")] = n;
    }
    return { samples: Number(canvas.dataset.samples), ink };
  }, id);
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
