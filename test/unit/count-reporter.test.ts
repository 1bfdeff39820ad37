import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// test/count-reporter.ts prints the line CI reads. Each fixture is run by a vitest of
// its own (a child process, so its exit code is the real one): whenever vitest exits
// non-zero, the line must say at least "1 failed".
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'reporter');
const vitestCli = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const COUNT_LINE = /^(\d+) passed, (\d+) failed, (\d+) skipped$/gm;

interface FixtureRun {
  exitCode: number;
  lines: string[];
}

function runFixture(file: string): Promise<FixtureRun> {
  // The outer run's VITEST_* variables would make the inner vitest believe it is a worker.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [vitestCli, 'run', '--root', fixtures, file], { env, timeout: 60_000 }, (error, stdout) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ exitCode: error ? (error.code as number) : 0, lines: stdout.match(COUNT_LINE) ?? [] });
    });
  });
}

describe('the count line', () => {
  it.concurrent.each([
    ['green.fixture.ts', 0, '1 passed, 0 failed, 0 skipped'],
    ['before-all-throws.fixture.ts', 1, '0 passed, 1 failed, 1 skipped'],
    ['describe-setup-throws.fixture.ts', 1, '1 passed, 1 failed, 1 skipped'],
    ['after-all-throws.fixture.ts', 1, '1 passed, 1 failed, 0 skipped'],
    ['unhandled-rejection.fixture.ts', 1, '1 passed, 1 failed, 0 skipped'],
    ['import-fails.fixture.ts', 1, '0 passed, 1 failed, 0 skipped'],
  ])('%s: vitest exits %i and the line says "%s"', async (file, exitCode, line) => {
    const run = await runFixture(file);
    expect(run).toEqual({ exitCode, lines: [line] });
  }, 60_000);
});
