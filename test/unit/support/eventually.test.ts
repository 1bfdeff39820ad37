import { describe, expect, it } from 'vitest';
import { eventually } from '../../support/eventually.js';

// The integration tests' wait: null, undefined and false all mean "not yet".
describe('eventually', () => {
  it.each([null, undefined, false])('keeps waiting while the check returns %s', async (notYet) => {
    let calls = 0;
    const value = await eventually(async () => (++calls < 3 ? notYet : 'ready'), 'the third call', 2000, 1);
    expect(value).toBe('ready');
    expect(calls).toBe(3);
  });

  it('returns falsy values that are answers: 0 and the empty string', async () => {
    expect(await eventually(async () => 0, 'zero', 100, 1)).toBe(0);
    expect(await eventually(async () => '', 'empty', 100, 1)).toBe('');
  });

  it('times out naming what it waited for and the last error', async () => {
    await expect(eventually(async () => null, 'a routed endpoint', 30, 1)).rejects.toThrow(/timed out after 30 ms waiting for a routed endpoint$/);
    await expect(
      eventually(
        async () => {
          throw new Error('connection refused');
        },
        'a node',
        30,
        1,
      ),
    ).rejects.toThrow(/waiting for a node: connection refused/);
  });
});
