import type { Reporter, SerializedError, TestModule, TestRunEndReason } from 'vitest/node';

/**
 * CI recognises a plain "N passed, N failed, N skipped" line, not vitest's own summary.
 * Vitest fails a run for more than failed tests: a file that does not load, a throwing
 * beforeAll/afterAll (its tests are then reported skipped or passed), an unhandled error.
 * Each of those counts as one failure, so a run that exits non-zero never reads "0 failed".
 */
export default class CountReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>, reason: TestRunEndReason): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      let failedHere = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else skipped++;
      }
      // A file that did not load, or a hook of the file or of a describe block that threw.
      for (const scope of [module, ...module.children.allSuites()]) if (scope.errors().length > 0) failedHere++;
      // Vitest failed the file for a reason neither of those shows.
      if (!module.ok() && failedHere === 0) failedHere = 1;
      failed += failedHere;
    }
    failed += unhandledErrors.length;
    // No test files, an interrupted run, or a cause not seen above: vitest exits 1.
    if (reason !== 'passed' && failed === 0) failed = 1;
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
