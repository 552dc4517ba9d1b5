// The TURN relay check: headless Chromium (Debian's, via playwright-core from .tools/)
// opens turn-check.html on a reference server started with coturn's flags, once per TURN
// transport, and the camera (a marker-stamped canvas) must come back over a relay
// candidate pair of that transport. Run by turn-check.sh; TURN_CHECK_BASE is the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { launch } from "../../../e2e/lib.mjs";

const BASE = process.env.TURN_CHECK_BASE ?? "http://127.0.0.1:8796";

async function relayRun(policy) {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${BASE}/turn-check.html?policy=${policy}`);
    await page.waitForFunction(() => window.result !== null, null, { timeout: 40_000, polling: 250 });
    const result = await page.evaluate(() => window.result);
    return { result, errors };
  } finally {
    await browser.close();
  }
}

for (const policy of ["udp", "tcp"]) {
  test(`the camera comes back over a TURN relay (${policy})`, { timeout: 60_000 }, async () => {
    const { result: r, errors } = await relayRun(policy);
    const detail = JSON.stringify(r);
    assert.deepEqual(errors, [], detail);
    assert.equal(r.error, undefined, detail);
    assert.ok(r.urls.length === 1 && r.urls[0].endsWith(`?transport=${policy}`), detail);
    assert.ok(r.turnConfigBeforeAnswer, `turn_config before the answer: ${detail}`);
    assert.ok(r.localCandidates.length > 0 && r.localCandidates.every((c) => / typ relay /.test(c)), detail);
    assert.equal(r.conn, "connected", detail);
    assert.equal(r.pair?.state, "succeeded", detail);
    assert.equal(r.pair.local.type, "relay", detail);
    assert.equal(r.pair.local.relayProtocol, policy, detail);
    assert.ok(r.pair.framesDecoded > 0, detail);
    assert.ok(r.markersSeen >= 50, `markers read back: ${detail}`);
    assert.equal(r.corrupted, 0, detail);
    console.log(`  ${policy}: pair ${r.pair.local.type}/${r.pair.local.relayProtocol} ${r.pair.local.address} -> ${r.pair.remote.type} ${r.pair.remote.address}, ${r.markersSeen} markers back, ${r.pair.framesDecoded} frames decoded`);
  });
}
