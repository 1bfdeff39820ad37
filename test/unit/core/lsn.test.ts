import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../../src/core/bytes.js';
import { formatLsn, lsnLag, maxLsn, parseLsn, tryParseLsn } from '../../../src/core/lsn.js';

describe('parseLsn', () => {
  it.each([
    { rule: 'low half only', text: '0/3002440', lsn: 0x3002440n },
    { rule: 'high half shifts by 32 bits', text: '16/B374D848', lsn: (0x16n << 32n) + 0xb374d848n },
    { rule: 'lowercase hex is accepted', text: '16/b374d848', lsn: (0x16n << 32n) + 0xb374d848n },
    { rule: 'zero', text: '0/0', lsn: 0n },
    { rule: 'largest LSN', text: 'FFFFFFFF/FFFFFFFF', lsn: (1n << 64n) - 1n },
    { rule: 'surrounding whitespace from psql output is ignored', text: ' 0/10\n', lsn: 0x10n },
  ])('$rule: $text', ({ text, lsn }) => {
    expect(parseLsn(text)).toBe(lsn);
    expect(tryParseLsn(text)).toBe(lsn);
  });

  it.each([
    { rule: 'empty', text: '' },
    { rule: 'no slash', text: '3002440' },
    { rule: 'two slashes', text: '0/1/2' },
    { rule: 'not hex', text: '0/XYZ' },
    { rule: 'half longer than 32 bits', text: '0/123456789' },
    { rule: 'negative', text: '-1/0' },
    { rule: 'missing half', text: '0/' },
  ])('rejects $rule', ({ text }) => {
    expect(tryParseLsn(text)).toBeNull();
    expect(() => parseLsn(text)).toThrow(/not a PostgreSQL LSN/);
  });
});

describe('formatLsn', () => {
  it.each([
    { rule: 'uppercase without padding, like the server', lsn: 0x3002440n, text: '0/3002440' },
    { rule: 'high half', lsn: (0x16n << 32n) + 0xb374d848n, text: '16/B374D848' },
    { rule: 'zero', lsn: 0n, text: '0/0' },
  ])('$rule', ({ lsn, text }) => {
    expect(formatLsn(lsn)).toBe(text);
  });

  it.each([{ lsn: -1n }, { lsn: 1n << 64n }])('refuses out-of-range $lsn', ({ lsn }) => {
    expect(() => formatLsn(lsn)).toThrow(RangeError);
  });

  it('round-trips with parseLsn for every 64-bit position', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (lsn) => {
        expect(parseLsn(formatLsn(lsn))).toBe(lsn);
      }),
    );
  });
});

describe('lsnLag', () => {
  it.each([
    { rule: 'bytes behind', ahead: 300n, behind: 100n, lag: 200n },
    { rule: 'equal positions are not behind', ahead: 100n, behind: 100n, lag: 0n },
    { rule: 'never negative when the other is ahead', ahead: 100n, behind: 300n, lag: 0n },
  ])('$rule', ({ ahead, behind, lag }) => {
    expect(lsnLag(ahead, behind)).toBe(lag);
  });
});

describe('maxLsn', () => {
  it.each([
    { rule: 'greatest wins', positions: [1n, 3n, 2n], max: 3n },
    { rule: 'nulls are ignored', positions: [null, 2n, undefined], max: 2n },
    { rule: 'nothing known is null', positions: [null, undefined], max: null },
    { rule: 'no positions is null', positions: [], max: null },
  ])('$rule', ({ positions, max }) => {
    expect(maxLsn(...positions)).toBe(max);
  });
});

describe('formatBytes', () => {
  it.each([
    { bytes: 0n, text: '0 B' },
    { bytes: 1023n, text: '1023 B' },
    { bytes: 1024n, text: '1 KiB' },
    { bytes: 1536n, text: '1.5 KiB' },
    { bytes: 16n * 1024n * 1024n, text: '16 MiB' },
    { bytes: 48n * 1024n * 1024n, text: '48 MiB' },
    { bytes: 5n * 1024n ** 3n, text: '5 GiB' },
    { bytes: -2048n, text: '-2 KiB' },
  ])('$bytes -> $text', ({ bytes, text }) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
