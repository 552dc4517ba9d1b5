// The consumer suite: the npm package as a web developer gets it. It packs pkg/ (`npm pack`),
// lints the tarball (publint), installs it offline into a minimal app per bundler
// (consumers/*, each with consumers/shared/app.js as its source), builds each app with the
// one command its package.json holds (the README's line for that bundler), serves the
// output under the README's Content-Security-Policy, and in headless Chromium connects the
// fake camera to the reference server, sees remote frames advance, and disconnects.
// Also: Vite's dev server, the debug entry's Rust names in a stack trace, a Node import, and
// TypeScript resolving the package's types.
//
// Run by scripts/consumers.sh (which starts the reference server and sets CONSUMER_SERVER)
// inside a loopback-only network namespace, after scripts/setup.sh installed the apps'
// locked bundlers; nothing here reaches a registry.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { launch, waitFor, framesOver } from "../e2e/lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const SERVER = process.env.CONSUMER_SERVER ?? "ws://127.0.0.1:8789";
const PKG = path.join(root, process.env.CONSUMER_PKG ?? "pkg");
const T = { timeout: 180_000 };
const run = promisify(execFile);

/**
 * The page's policy, as the README states it: scripts and wasm from the site (plus the
 * hashes of inline import maps), connections to the site and the realtime host.
 */
const csp = (hashes) =>
  `default-src 'self'; script-src ${["'self'", "'wasm-unsafe-eval'", ...hashes].join(" ")}; connect-src 'self' ${SERVER}`;
/** A Rust path in a stack frame, e.g. `realtime_video_sdk[5f…]::web::client::…`. */
const RUST_FRAME = /realtime_video_sdk(\[[0-9a-f]+\])?::\w/;

let browser;
let tarball;
const closers = [];

before(async () => {
  const out = path.join(root, "target/consumers");
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const { stdout } = await sh(root, "npm", ["pack", PKG, "--pack-destination", out, "--loglevel=error"]);
  tarball = path.join(out, stdout.trim().split("\n").pop());
  browser = await launch();
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await browser?.close();
});

/** Runs a command in `cwd`; a failure carries its output. */
async function sh(cwd, cmd, args) {
  try {
    return await run(cmd, args, { cwd, maxBuffer: 16 << 20, env: { ...process.env, npm_config_update_notifier: "false" } });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} in ${path.relative(root, cwd)} failed:\n${e.stdout}${e.stderr}`);
  }
}

/**
 * A fresh app: no build output, the shared app as its source, and the packed tarball
 * installed from the local file only.
 */
async function install(app) {
  const dir = path.join(here, app);
  rmSync(path.join(dir, "dist"), { recursive: true, force: true });
  mkdirSync(path.join(dir, "src"), { recursive: true });
  copyFileSync(path.join(here, "shared/app.js"), path.join(dir, "src/index.js"));
  await sh(dir, "npm", ["install", "--offline", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", tarball]);
  return dir;
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".css": "text/css",
};

/** `'sha256-…'` of each inline `<script>` (an import map) of a page, for script-src. */
function inlineHashes(html) {
  return [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    ([, body]) => `'sha256-${createHash("sha256").update(body).digest("base64")}'`,
  );
}

/** A static file server for `dir` on 127.0.0.1 (any port); pages carry CSP. Returns its origin. */
async function serve(dir) {
  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, "http://localhost");
    const file = path.join(dir, decodeURIComponent(pathname), pathname.endsWith("/") ? "index.html" : "");
    if (!file.startsWith(dir + path.sep)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      const type = TYPES[path.extname(file)] ?? "application/octet-stream";
      const headers = { "content-type": type, "cache-control": "no-store" };
      if (type.startsWith("text/html")) headers["content-security-policy"] = csp(inlineHashes(body.toString()));
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${server.address().port}`;
}

/**
 * Opens `url` (with `?server=`) in a fresh context, watching for uncaught errors, CSP
 * violations and failed requests; returns the page and that list.
 */
async function open(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) problems.push(`${r.status()} ${r.url()}`);
  });
  await page.exposeFunction("__consumerCspViolation", (text) => problems.push(`CSP: ${text}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__consumerCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`);
    });
  });
  await page.goto(`${url}${url.includes("?") ? "&" : "?"}server=${encodeURIComponent(SERVER)}`);
  return { page, problems, close: () => context.close() };
}

/** What a user sees: the app connects, the remote video plays, and disconnect ends it. */
async function connectsAndDisconnects(url) {
  const { page, problems, close } = await open(url);
  try {
    const outcome = await waitFor(
      page,
      "the app to connect",
      () => window.consumer && { phase: window.consumer.phase, detail: window.consumer.detail },
      { ok: (o) => problems.length > 0 || (o && o.phase !== "connecting"), timeout: 60_000 },
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(outcome, { phase: "connected", detail: "" });
    await waitFor(page, "the remote video to have a size", () => document.querySelector("video")?.videoWidth ?? 0, {
      ok: (w) => w > 0,
    });
    const f = await framesOver(page, "video", 2000);
    assert.ok(f.after > f.before, `remote frames advance (${f.before} -> ${f.after})`);
    assert.equal(await page.evaluate(() => window.consumer.remoteTrack()), "live");
    assert.equal(await page.evaluate(() => window.consumer.disconnect()), "disconnected");
    await waitFor(page, "the remote video track to end", () => window.consumer.remoteTrack(), {
      ok: (s) => s === "ended",
      timeout: 10_000,
    });
    assert.deepEqual(problems, []);
  } finally {
    await close();
  }
}

/** The stack of an error thrown from inside the wasm, as the app at `url` sees it. */
async function errorStack(url) {
  const { page, problems, close } = await open(url);
  try {
    await waitFor(page, "the app to load", () => Boolean(window.consumer));
    const stack = await page.evaluate(() => window.consumer.errorStack());
    assert.deepEqual(problems, []);
    return stack;
  } finally {
    await close();
  }
}

describe("the packed package", () => {
  it("passes publint with nothing to report", T, async () => {
    const { stdout } = await sh(root, path.join(root, ".tools/node_modules/.bin/publint"), ["run", tarball, "--strict"]);
    assert.match(stdout, /All good!/, stdout);
  });

  it("ships the wasm without its names section and a debug wasm with Rust names", T, async () => {
    const dir = await install("plain");
    const names = (file) => {
      const mod = new WebAssembly.Module(readFileSync(path.join(dir, "node_modules/realtime-video-sdk", file)));
      return WebAssembly.Module.customSections(mod, "name").map((s) => Buffer.from(s).toString("latin1"));
    };
    assert.deepEqual(names("realtime_video_sdk_bg.wasm"), []);
    const [debug] = names("realtime_video_sdk_bg.debug.wasm");
    assert.match(debug ?? "", RUST_FRAME);
  });
});

describe("Vite", () => {
  let dir;
  before(async () => {
    dir = await install("vite");
  });

  it("vite build: the built app connects, plays the remote video and disconnects", T, async () => {
    await sh(dir, "npm", ["run", "build", "--silent"]);
    await connectsAndDisconnects(`${await serve(path.join(dir, "dist"))}/`);
  });

  it("vite dev server: the app connects, plays the remote video and disconnects", T, async () => {
    const port = await freePort();
    // --force: re-optimise dependencies, as the tarball was just reinstalled without a lockfile change.
    const args = ["--host", "127.0.0.1", "--port", String(port), "--strictPort", "--force"];
    const vite = spawn(path.join(dir, "node_modules/.bin/vite"), args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    vite.stdout.on("data", (d) => (log += d));
    vite.stderr.on("data", (d) => (log += d));
    const exited = new Promise((resolve) => vite.on("exit", resolve));
    try {
      await until(() => log.includes(`http://127.0.0.1:${port}/`) || vite.exitCode !== null, 30_000);
      assert.equal(vite.exitCode, null, `vite exited:\n${log}`);
      await connectsAndDisconnects(`http://127.0.0.1:${port}/`);
    } finally {
      vite.kill();
      await exited;
    }
  });
});

describe("webpack 5 with no configuration", () => {
  it("the built app connects, plays the remote video and disconnects", T, async () => {
    const dir = await install("webpack");
    await sh(dir, "npm", ["run", "build", "--silent"]);
    await connectsAndDisconnects(`${await serve(dir)}/`);
  });
});

describe("esbuild (ES module output, the wasm copied next to the bundle)", () => {
  it("the built app connects, plays the remote video and disconnects", T, async () => {
    const dir = await install("esbuild");
    await sh(dir, "npm", ["run", "build", "--silent"]);
    await connectsAndDisconnects(`${await serve(dir)}/`);
  });
});

describe("Rollup (node-resolve, ES module output, the wasm copied next to the bundle)", () => {
  it("the built app connects, plays the remote video and disconnects", T, async () => {
    const dir = await install("rollup");
    await sh(dir, "npm", ["run", "build", "--silent"]);
    await connectsAndDisconnects(`${await serve(dir)}/`);
  });
});

describe("plain ES modules with an import map, no build", () => {
  let origin;
  before(async () => {
    origin = await serve(await install("plain"));
  });

  it("the app connects, plays the remote video and disconnects", T, async () => {
    await connectsAndDisconnects(`${origin}/`);
  });

  it("the debug entry: the same app runs, and a stack trace through the wasm names Rust functions", T, async () => {
    await connectsAndDisconnects(`${origin}/debug.html`);
    const debug = await errorStack(`${origin}/debug.html`);
    assert.match(debug, RUST_FRAME, debug);
    const release = await errorStack(`${origin}/`);
    assert.match(release, /wasm-function\[/, release);
    assert.doesNotMatch(release, RUST_FRAME, "the default entry's wasm has no names");
  });
});

describe("outside the browser", () => {
  it("Node imports the package by name and uses it at once (server-side rendering)", T, async () => {
    const dir = await install("plain");
    const script = 'const { model } = await import("./src/index.js"); console.log(JSON.stringify(model));';
    const { stdout } = await sh(dir, process.execPath, ["--input-type=module", "-e", script]);
    assert.equal(JSON.parse(stdout).name, "mirage");
  });

  it("the entry re-exports the whole wasm-bindgen glue and the JS extras, and init()/initSync() change nothing", T, async () => {
    const dir = await install("plain");
    const script = `
      const sdk = await import("realtime-video-sdk");
      const glue = await import("./node_modules/realtime-video-sdk/realtime_video_sdk.js");
      const missing = Object.keys(glue).filter((k) => sdk[k] !== glue[k]);
      const extra = Object.keys(sdk).filter((k) => !(k in glue));
      // The JS list of ERROR_CODES is the wasm's own.
      const codes = JSON.stringify(sdk.ERROR_CODES) === JSON.stringify(glue.__errorCodes());
      // Node has WebAssembly and WebSocket but no RTCPeerConnection: not a supported browser.
      const support = await import("realtime-video-sdk/support");
      if (support.isBrowserSupported() !== false || support.isBrowserSupported !== sdk.isBrowserSupported) throw new Error("isBrowserSupported");
      const first = await sdk.default();
      const again = [sdk.initSync(), await sdk.default()].every((w) => w === first);
      // The marker codec on an ImageData-shaped object: stamped by the wasm, read by marker.js.
      const image = { width: 32, height: 8, data: new Uint8ClampedArray(32 * 8 * 4) };
      sdk.stampMarker(image, 321);
      const marker = [sdk.readMarker(image), sdk.readMarker({ width: 32, height: 8, data: new Uint8ClampedArray(32 * 8 * 4) })];
      console.log(JSON.stringify({ names: Object.keys(sdk).length, missing, extra: extra.sort(), codes, again, marker }));`;
    const { stdout } = await sh(dir, process.execPath, ["--input-type=module", "-e", script]);
    const { names, ...rest } = JSON.parse(stdout);
    assert.ok(names > 5, `the entry exports ${names} names`);
    assert.deepEqual(rest, {
      missing: [],
      extra: ["ERROR_CODES", "createConsoleLogger", "isBrowserSupported", "noopLogger", "readMarker"],
      codes: true,
      again: true,
      marker: [321, -1],
    });
  });

  it("TypeScript types the app from the package's exports (tsc --strict, checkJs)", T, async () => {
    const dir = await install("typescript");
    await sh(dir, path.join(root, ".tools/node_modules/.bin/tsc"), ["-p", "."]);
  });
});

/** A port free on 127.0.0.1 right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** Polls `ok()` every 100 ms until true or `ms` pass. */
async function until(ok, ms) {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
}
