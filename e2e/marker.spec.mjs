// The package's pixel-marker functions in headless Chromium, through a real canvas:
// stampMarker writes the marker into an ImageData, readMarker reads it back after the
// canvas round trip (readMarker copies the strip's red values into the wasm memory, so it
// must also survive the memory growing). Run by scripts/e2e-tests.sh.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch } from "./lib.mjs";

const T = { timeout: 60_000 };
let browser;
let page;
before(async () => {
  browser = await launch();
  page = await browser.newPage();
  await page.goto(`${BASE}/`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
});
after(async () => {
  await browser?.close();
});

describe("stampMarker and readMarker", () => {
  it("round-trip sequence numbers through a canvas over a busy background", T, async () => {
    const got = await page.evaluate(async () => {
      const { stampMarker, readMarker } = await import("/pkg/index.js");
      const canvas = document.createElement("canvas");
      canvas.width = 320;
      canvas.height = 180;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      const g = ctx.createLinearGradient(0, 0, 320, 180);
      g.addColorStop(0, "#123456");
      g.addColorStop(1, "#fedcba");
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, 320, 180);
      const out = [];
      for (const seq of [0, 1, 0x1234, 0x8000, 0xffff]) {
        const img = ctx.getImageData(0, 0, 320, 180);
        stampMarker(img, seq);
        ctx.putImageData(img, 0, 0);
        // Read back from the canvas, the whole frame and the 24 × 4 strip alone.
        out.push([seq, readMarker(ctx.getImageData(0, 0, 320, 180)), readMarker(ctx.getImageData(0, 176, 24, 4))]);
      }
      return out;
    });
    for (const [seq, frame, strip] of got) {
      assert.equal(frame, seq, `frame with ${seq}`);
      assert.equal(strip, seq, `strip with ${seq}`);
    }
  });

  it("tell an unmarked frame (-1) from a damaged one (-2), and answer anything else with -1", T, async () => {
    const r = await page.evaluate(async () => {
      const { stampMarker, readMarker } = await import("/pkg/index.js");
      const canvas = document.createElement("canvas");
      canvas.width = 64;
      canvas.height = 32;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.fillStyle = "#808080";
      ctx.fillRect(0, 0, 64, 32);
      const unmarked = readMarker(ctx.getImageData(0, 0, 64, 32));
      const img = ctx.getImageData(0, 0, 64, 32);
      stampMarker(img, 0x00f0);
      ctx.putImageData(img, 0, 0);
      // Flip the last checksum pixel of every row: the sync still matches, the checksum not.
      const before = ctx.getImageData(23, 28, 1, 1).data[0];
      ctx.fillStyle = before > 128 ? "#323232" : "#c8c8c8";
      ctx.fillRect(23, 28, 1, 4);
      const damaged = readMarker(ctx.getImageData(0, 0, 64, 32));
      const tiny = ctx.getImageData(0, 0, 10, 2);
      let tinyStamp = null;
      try {
        stampMarker(tiny, 1);
      } catch (e) {
        tinyStamp = e.code;
      }
      let bigSeq = null;
      try {
        stampMarker(ctx.getImageData(0, 0, 64, 32), 70_000);
      } catch (e) {
        bigSeq = e.code;
      }
      const short = { width: 64, height: 32, data: new Uint8ClampedArray(100) };
      return {
        unmarked,
        damaged,
        tiny: readMarker(tiny),
        tinyStamp,
        bigSeq,
        others: [readMarker("frame"), readMarker({}), readMarker(null), readMarker(undefined), readMarker(short), readMarker({ width: 24.5, height: 4, data: new Uint8ClampedArray(400) })],
      };
    });
    assert.equal(r.unmarked, -1);
    assert.equal(r.damaged, -2);
    assert.equal(r.tiny, -1);
    assert.equal(r.tinyStamp, "INVALID_OPTIONS");
    assert.equal(r.bigSeq, "INVALID_OPTIONS");
    assert.deepEqual(r.others, [-1, -1, -1, -1, -1, -1]);
  });

  it("keeps reading after the wasm memory grows", T, async () => {
    const r = await page.evaluate(async () => {
      const { stampMarker, readMarker, initSync } = await import("/pkg/index.js");
      const img = new ImageData(48, 16);
      stampMarker(img, 777);
      const before = readMarker(img);
      // initSync() on an instantiated package returns its exports, memory included.
      initSync().memory.grow(1);
      stampMarker(img, 778);
      return [before, readMarker(img)];
    });
    assert.deepEqual(r, [777, 778]);
  });
});
