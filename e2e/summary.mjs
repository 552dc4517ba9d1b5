// node:test reporter that ends the run with the line scripts/test.sh sums from its logs:
//   test result: ok. N passed; M failed; K ignored; finished in S s
// (or `FAILED.`). Suites are not counted, their tests are; skipped tests count as ignored.
export default async function* summary(source) {
  const start = Date.now();
  let passed = 0;
  let failed = 0;
  let ignored = 0;
  let suiteFailures = 0;
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.details?.type === "suite") {
      if (event.type === "test:fail") suiteFailures++;
      continue;
    }
    if (d.skip || d.todo) ignored++;
    else if (event.type === "test:pass") passed++;
    else failed++;
  }
  // A suite can fail outside its tests (a hook threw before any test ran): count it once.
  if (failed === 0 && suiteFailures > 0) failed = suiteFailures;
  const secs = ((Date.now() - start) / 1000).toFixed(1);
  yield `\ntest result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed; ${ignored} ignored; finished in ${secs}s\n`;
}
