// End-to-end tests of the test page (www/): what a user sees on the page when it drives the
// SDK against the reference server, in headless Chromium with its fake camera.
// Run by scripts/e2e-tests.sh inside a loopback-only network namespace.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, openPage, waitFor, waitForText, framesOver, statsCell, chartInk, screenshot } from "./lib.mjs";


const KEY = "e2e-secret-key-7d1f3a";
const LIVE = /^(connected|generating)$/;
const MODELS = ["mirage", "mirage_v2", "lucy_v2v_720p_rt", "lucy_2_rt", "live_avatar"];
const T = { timeout: 90_000 };
/** Pixels of all the lines of a chart (see chartInk). */
const inkOf = (c) => Object.values(c.ink).reduce((a, b) => a + b, 0);

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe("the page", () => {
  it("loads under the strict CSP with the model registry and local defaults", T, async () => {
    const { page, problems } = await openPage(browser);
    try {
      assert.match(await page.textContent("#version"), /^SDK v\d+\.\d+\.\d+/);
      const models = await page.$$eval("#model option", (os) => os.map((o) => o.value));
      assert.deepEqual(models, MODELS);
      assert.equal(await page.inputValue("#baseUrl"), BASE.replace(/^http/, "ws"));
      assert.notEqual(await page.inputValue("#apiKey"), "", "the local demo needs no typing");
      assert.equal(await page.textContent("#state"), "disconnected");
      assert.equal(await page.isHidden("#ivsOptions"), true, "IVS options only for IVS");
      await page.selectOption("#transport", "ivs");
      assert.equal(await page.isVisible("#ivsOptions"), true);
      assert.equal(await page.inputValue("#ivsSource"), "emulator", "the local emulator by default on loopback");
      assert.equal(await page.isHidden("#ivsCustomLabel"), true);
      await page.selectOption("#ivsSource", "custom");
      assert.equal(await page.isVisible("#ivsCustomUrl"), true, "a custom SDK URL can be typed");
      assert.deepEqual(problems, []);

      // The policy is in force: an inline script is refused and reported.
      await page.evaluate(() => {
        const s = document.createElement("script");
        s.textContent = "window.inlineRan = true";
        document.body.append(s);
      });
      await waitFor(page, "the CSP violation of an inline script", () => document.querySelector("#log .kind-csp")?.textContent ?? null);
      assert.equal(await page.evaluate(() => window.inlineRan ?? false), false);
      assert.ok(problems.some((p) => p.startsWith("CSP: script-src")), `violations seen: ${problems}`);
    } finally {
      await page.context().close();
    }
  });

  it("is served with the Content-Security-Policy header", T, async () => {
    const { page, response } = await openPage(browser);
    try {
      const csp = response.headers()["content-security-policy"] ?? "";
      assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' https:\/\/web-broadcast\.live-video\.net/);
      assert.match(csp, /style-src 'self'/);
    } finally {
      await page.context().close();
    }
  });

  it("shows the SDK's error code for bad input and stays usable", T, async () => {
    const { page, problems } = await openPage(browser);
    const connectFails = async (re) => {
      await page.click("#connect");
      const text = await waitForText(page, "#error", re);
      assert.equal(await page.textContent("#state"), "disconnected");
      assert.equal(await page.isEnabled("#connect"), true);
      return text;
    };
    try {
      await page.fill("#apiKey", "");
      await connectFails(/^connect: INVALID_API_KEY: /);
      await page.fill("#apiKey", KEY);
      await page.fill("#baseUrl", "not a url");
      await connectFails(/^connect: INVALID_BASE_URL: Invalid base URL: not a url/);
      await page.fill("#baseUrl", BASE.replace(/^http/, "ws"));
      await page.fill("#latInterval", "-5");
      await page.click("#camera");
      await waitForText(page, "#cameraInfo", /camera/);
      await connectFails(/^connect: INVALID_OPTIONS: .*probeIntervalMs/);
      await page.fill("#latInterval", "1000");

      // A refusal from the server: its text is shown as text, never as markup.
      await page.fill("#extraParams", "fault_refuse=unauthorized <img src=x id=injected>");
      const refused = await connectFails(/^connect: WEBRTC_SERVER_ERROR \(UNAUTHORIZED\): /);
      assert.match(refused, /<img src=x id=injected>/);
      assert.equal(await page.$("#injected"), null);
      await page.fill("#extraParams", "");

      // A token that is not one.
      await page.fill("#token", "not-a-token");
      await page.click("#openViewer");
      await waitForText(page, "#error", /^viewer: INVALID_TOKEN: /);
      assert.equal(await page.isHidden("#viewerPane"), true);

      // A connect that cannot succeed (nothing listens there) is cancelled by Disconnect.
      await page.fill("#baseUrl", "ws://127.0.0.1:9");
      await page.click("#connect");
      await waitForText(page, "#state", /^connecting$/);
      await page.click("#disconnect");
      await waitForText(page, "#state", /^disconnected$/);
      assert.equal(await page.isEnabled("#connect"), true);

      const log = await page.textContent("#log");
      assert.ok(!log.includes(KEY), "the API key is never logged");
      await screenshot(page, "e2e-errors");
      assert.deepEqual(problems, []);
    } finally {
      await page.context().close();
    }
  });

  it("runs the connectivity check and shows its result", T, async () => {
    const { page, problems } = await openPage(browser);
    try {
      await page.click("#preflight");
      await waitForText(page, "#preflightResult", /^good, transport udp, RTT \d+ ms$/, 30_000);
      assert.equal(await page.$$eval("#preflightReasons li", (l) => l.length), 0, "nothing to say on loopback");
      await page.check("#preflightDeep");
      await page.click("#preflight");
      await waitForText(page, "#preflightResult", /^checking/);
      await waitForText(page, "#preflightResult", /^good, transport udp, RTT \d+ ms, first frame \d+ ms, \d+ samples$/, 60_000);
      // Nothing listens there: the check says so instead of hanging.
      await page.fill("#baseUrl", "ws://127.0.0.1:9");
      await page.uncheck("#preflightDeep");
      await page.click("#preflight");
      await waitForText(page, "#preflightResult", /^critical, transport failed, RTT —$/, 30_000);
      assert.match(await page.textContent("#preflightReasons"), /the service is unreachable/);
      assert.equal(await page.isEnabled("#preflight"), true);
      await screenshot(page, "e2e-preflight");
      assert.deepEqual(problems, []);
    } finally {
      await page.context().close();
    }
  });

  it("uses the synthetic source when asked", T, async () => {
    const { page, problems } = await openPage(browser);
    try {
      await page.selectOption("#source", "synthetic");
      await page.click("#camera");
      await waitForText(page, "#cameraInfo", /^synthetic pattern: 640×360 \+ audio$/);
      const f = await framesOver(page, "#local");
      assert.ok(f.after - f.before >= 10, `the pattern moves: ${JSON.stringify(f)}`);
      await page.click("#camera");
      await waitForText(page, "#cameraInfo", /^no input$/);
      assert.deepEqual(problems, []);
    } finally {
      await page.context().close();
    }
  });
});

describe("the IVS SDK handed in as a module", () => {
  it("connects with ivsModule (the emulator's ES module) and plays the output", T, async () => {
    const { page, problems } = await openPage(browser);
    try {
      await page.selectOption("#transport", "ivs");
      await page.selectOption("#ivsSource", "emulatorModule");
      await page.click("#camera");
      await waitForText(page, "#cameraInfo", /^camera: /);
      await page.click("#connect");
      await waitForText(page, "#state", LIVE, 30_000);
      const f = await framesOver(page, "#remote");
      assert.ok(f.after - f.before >= 10, `frames advance: ${JSON.stringify(f)}`);
      assert.equal(await page.evaluate(() => "IVSBroadcastClient" in window), false, "no global was needed");
      await page.click("#disconnect");
      await waitForText(page, "#state", /^disconnected$/);
      assert.deepEqual(problems, []);
    } finally {
      await page.context().close();
    }
  });
});

// One session per transport, driven through the page step by step; the steps share the page.
for (const transport of ["webrtc", "ivs"]) {
  const step = (name, fn) => it(name, T, fn);

  describe(`a session over ${transport}`, () => {
    let page;
    let problems;
    before(async () => {
      ({ page, problems } = await openPage(browser));
      await page.fill("#apiKey", KEY);
      await page.selectOption("#transport", transport);
    });
    after(async () => {
      await page?.context().close();
    });

    step("connects and shows the session", async () => {
      await page.click("#camera");
      await waitForText(page, "#cameraInfo", /^camera: \d+×\d+ \+ audio$/);
      await page.click("#connect");
      await waitForText(page, "#state", LIVE, 30_000);
      assert.match(await page.textContent("#session"), /\S{6,}/);
      assert.notEqual(await page.inputValue("#token"), "");
      assert.equal(await page.isHidden("#error"), true, `no error: ${await page.textContent("#error")}`);
      assert.equal(await page.isEnabled("#sendPromptAck"), true);
      assert.equal(await page.isEnabled("#connect"), false);
    });

    step("plays the echoed video", async () => {
      await waitFor(page, "the output video to have a size", () => document.querySelector("#remote").videoWidth, { ok: (w) => w > 0 });
      const f = await framesOver(page, "#remote");
      assert.ok(f.after - f.before >= 10, `frames advance: ${JSON.stringify(f)}`);
      assert.ok(f.timeAfter > f.timeBefore, `time advances: ${JSON.stringify(f)}`);
    });

    step("fills the stats panel, the server metrics and the charts", async () => {
      await waitFor(page, "inbound fps in the stats panel", () => document.querySelector('#stats tr[data-key="inFps"] td')?.textContent, {
        ok: (t) => parseFloat(t) > 1,
      });
      assert.match(await statsCell(page, "inSize"), /^\d+×\d+$/);
      // Bitrates need two samples (a byte delta).
      for (const key of ["inBitrate", "outBitrate"]) {
        await waitFor(page, `${key} in the stats panel`, (k) => document.querySelector(`#stats tr[data-key="${k}"] td`)?.textContent, {
          arg: key,
          ok: (t) => /^\d+(\.\d+)? (k|M)bit\/s$/.test(t),
        });
      }
      assert.match(await statsCell(page, "inLost"), /^\d+$/);
      // The remote end is the one candidate the server advertises.
      assert.match(await statsCell(page, "pair"), /^\S+:\d+ udp host → 127\.0\.0\.1:\d+ udp host$/);
      await waitFor(page, "server metrics", () => document.querySelector('#metrics tr[data-key="output_fps"] td')?.textContent, {
        ok: (t) => parseFloat(t) > 0,
      });
      for (const id of ["fpsChart", "bitrateChart"]) {
        const c = await waitFor(page, `${id} to hold samples`, (i) => Number(document.getElementById(i).dataset.samples), {
          arg: id,
          ok: (n) => n >= 6,
        });
        assert.ok(c >= 6);
      }
      await new Promise((r) => setTimeout(r, 1100)); // one redraw
      // The lines are drawn (with an echo they coincide: count their pixels together).
      for (const id of ["fpsChart", "bitrateChart"]) {
        const c = await chartInk(page, id);
        assert.ok(inkOf(c) > 30, `${id} lines drawn: ${JSON.stringify(c)}`);
      }
      for (const [sel, re] of [
        ['#fpsLegend [data-series="in"]', /^\d+(\.\d)? fps$/],
        ['#fpsLegend [data-series="out"]', /^\d+(\.\d)? fps$/],
        ['#fpsLegend [data-series="server"]', /^\d+(\.\d)? fps$/],
        ['#bitrateLegend [data-series="in"]', /^\d+(\.\d)? kbit\/s$/],
        ['#bitrateLegend [data-series="out"]', /^\d+(\.\d)? kbit\/s$/],
      ]) {
        assert.match(await page.textContent(sel), re, sel);
      }
      await screenshot(page, `e2e-${transport}-connected`);
    });

    step("shows the connection quality and the time to first frame", async () => {
      const cell = (key) => `#qualityTable tr[data-key="${key}"] td`;
      await waitForText(page, cell("verdict"), /^(good|fair|poor|critical)$/, 30_000);
      assert.match(await page.textContent(cell("factor")), /^(none|bandwidth|latency|loss|stall|cpu)$/);
      await waitForText(page, cell("ttff"), /^\d+ ms$/);
      await waitForText(page, cell("fps"), /^\d+(\.\d)?$/);
      // Loopback settles on good once the warm-up is over; the header badge says it too.
      await waitForText(page, cell("verdict"), /^good$/, 30_000);
      await waitForText(page, "#quality", /^good$/);
      assert.match(await page.getAttribute("#quality", "class"), /\bgood\b/);
    });

    step("shows glass-to-glass latency", async () => {
      await waitForText(page, "#latPixelValue", /^\d+ ms/, 30_000);
      await waitFor(page, "latency samples", () => Number(document.getElementById("latencyChart").dataset.samples), { ok: (n) => n >= 2 });
      await new Promise((r) => setTimeout(r, 1100)); // one redraw
      const c = await chartInk(page, "latencyChart");
      assert.ok(inkOf(c) > 10, `latency line drawn: ${JSON.stringify(c)}`);
      await waitForText(page, "#latCompositeValue", /^\d+ ms/);
    });

    step("shows the prompt acks, and refused prompts with their code", async () => {
      await page.fill("#prompt", "an oil painting");
      await page.click("#sendPromptAck");
      await waitForText(page, "#promptStatus", /^acknowledged in \d+ ms$/);
      assert.match(await page.getAttribute("#promptStatus", "class"), /\bok\b/);
      await page.click("#sendPrompt");
      await waitForText(page, "#promptStatus", /^sent/);

      await page.fill("#prompt", "");
      await page.click("#sendPromptAck");
      await waitForText(page, "#promptStatus", /^INVALID_OPTIONS: .*prompt.*non-empty/);
      assert.match(await page.getAttribute("#promptStatus", "class"), /\berror\b/);
      await page.fill("#prompt", "x".repeat(1001));
      await page.click("#sendPromptAck");
      // No length cap in the SDK (as in the reference): the server refuses it, with its text.
      await waitForText(page, "#promptStatus", /^WEBRTC_SERVER_ERROR: prompt is too long/);
      await page.fill("#prompt", "a watercolor painting");
    });

    step("previews a reference image and shows its ack", async () => {
      const png = await page.screenshot({ clip: { x: 0, y: 0, width: 96, height: 64 } });
      await page.setInputFiles("#imageFile", { name: "reference.png", mimeType: "image/png", buffer: png });
      await waitFor(page, "the preview", () => document.querySelector("#imagePreview").naturalWidth, { ok: (w) => w === 96 });
      assert.equal(await page.isVisible("#imagePreview"), true);
      await page.click("#sendImage");
      await waitForText(page, "#imageStatus", /^acknowledged in \d+ ms$/);

      await page.setInputFiles("#imageFile", { name: "empty.png", mimeType: "image/png", buffer: Buffer.alloc(0) });
      await waitFor(page, "no preview of an unreadable image", () => document.querySelector("#imagePreview").hidden);
      await page.click("#sendImage");
      await waitForText(page, "#imageStatus", /^IMAGE_ERROR: /);
    });

    step("opens a viewer pane that plays the session", async () => {
      await page.click("#openViewer");
      await waitForText(page, "#viewerState", LIVE, 30_000);
      assert.equal(await page.isVisible("#viewerPane"), true);
      await waitFor(page, "the viewer video to have a size", () => document.querySelector("#viewerVideo").videoWidth, { ok: (w) => w > 0 });
      const f = await framesOver(page, "#viewerVideo");
      assert.ok(f.after - f.before >= 10, `viewer frames advance: ${JSON.stringify(f)}`);
      await screenshot(page, `e2e-${transport}-viewer`);
    });

    step("never shows the API key", async () => {
      const text = await page.evaluate(() => document.body.innerText);
      assert.ok(!text.includes(KEY));
      const log = await page.textContent("#log");
      assert.ok(log.length > 0 && !log.includes(KEY));
    });

    step("disconnects and resets the page", async () => {
      await page.click("#disconnect");
      await waitForText(page, "#state", /^disconnected$/);
      assert.equal(await page.textContent("#session"), "—");
      assert.equal(await page.inputValue("#token"), "");
      assert.equal(await page.isHidden("#viewerPane"), true);
      assert.equal(await page.evaluate(() => document.querySelector("#remote").srcObject), null);
      assert.equal(await page.$$eval("#stats tr, #metrics tr, #qualityTable tr", (rows) => rows.length), 0);
      assert.equal(await page.textContent("#quality"), "—");
      for (const id of ["fpsChart", "bitrateChart", "latencyChart"]) {
        const c = await chartInk(page, id);
        assert.equal(c.samples, 0, `${id} cleared`);
        assert.equal(inkOf(c), 0, `${id} has no line left: ${JSON.stringify(c)}`);
      }
      assert.equal(await page.textContent("#promptStatus"), "");
      assert.equal(await page.isEnabled("#connect"), true);
      assert.equal(await page.isEnabled("#sendPromptAck"), false);
      // No stats arrive after the disconnect.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await page.$$eval("#stats tr", (rows) => rows.length), 0);
    });

    step("reported no CSP violation and no uncaught error", async () => {
      assert.deepEqual(problems, []);
    });
  });
}
