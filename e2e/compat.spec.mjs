// The compatibility check of shared/API.md §8: a page written for the reference SDK
// (www/compat/, only its import line changed) runs the whole checklist against this package
// and the reference server, over each transport, with a viewer on a second page. Run by
// scripts/e2e-tests.sh inside a loopback-only network namespace.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, waitFor, screenshot } from "./lib.mjs";

const T = { timeout: 180_000 };
let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Opens `path` in a fresh context; uncaught errors and CSP violations are collected. */
async function open(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && process.env.E2E_VERBOSE) console.log(`  [page console] ${m.text()}`);
  });
  await page.goto(`${BASE}${path}`);
  return { page, problems, context };
}

describe("a page written for the reference SDK", () => {
  for (const transport of ["webrtc", "ivs"]) {
    it(`passes the compatibility checklist over ${transport}`, T, async () => {
      const { page, problems, context } = await open(`/compat/?transport=${transport}`);
      try {
        const token = await waitFor(page, "the subscribe token", () => window.compat?.token, { timeout: 60_000 });
        const viewer = await open(`/compat/?viewer=${encodeURIComponent(token)}`);
        try {
          await waitFor(viewer.page, "the viewer page", () => window.compat?.done, { timeout: 30_000 });
          const seen = await viewer.page.evaluate(() => window.compat.results);
          assert.deepEqual(seen.filter((r) => !r.ok), [], JSON.stringify(seen));
          assert.equal(seen.length, 1);
        } finally {
          await viewer.context.close();
        }
        await page.evaluate(() => {
          window.compat.viewed = true;
        });
        await waitFor(page, "the checklist", () => window.compat.done, { timeout: 150_000 });
        const results = await page.evaluate(() => window.compat.results);
        await screenshot(page, `compat-${transport}`);
        const failed = results.filter((r) => !r.ok);
        assert.deepEqual(failed, [], failed.map((r) => `${r.name}: ${r.detail}`).join("\n"));
        assert.ok(results.length >= 30, `${results.length} checks ran`);
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });
  }
});
