import { ConfigError } from '../../src/config/load.js';

/** The problems of the ConfigError that `run` throws; fails the test when it throws none or another error. */
export function configProblemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
