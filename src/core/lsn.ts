// PostgreSQL write-ahead-log positions. The server prints an LSN as two hex
// halves, "hi/lo"; the core compares and subtracts them as 64-bit integers.
import type { Lsn } from './types.js';

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const MAX_LSN = (1n << 64n) - 1n;

/** '0/3002440' -> 0x3002440n; null when the text is not an LSN. */
export function tryParseLsn(text: string): Lsn | null {
  const match = LSN_TEXT.exec(text.trim());
  if (!match) return null;
  const [, hi, lo] = match;
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/**
 * Like tryParseLsn, but throws: meant for server output, where a malformed LSN
 * means the probe itself is broken and the caller should treat it as a failure.
 */
export function parseLsn(text: string): Lsn {
  const lsn = tryParseLsn(text);
  if (lsn === null) throw new Error(`not a PostgreSQL LSN: ${JSON.stringify(text)}`);
  return lsn;
}

/** The server's own spelling: uppercase hex halves without padding, '16/B374D848'. */
export function formatLsn(lsn: Lsn): string {
  if (lsn < 0n || lsn > MAX_LSN) throw new RangeError(`LSN out of range: ${lsn}`);
  const hi = (lsn >> 32n).toString(16).toUpperCase();
  const lo = (lsn & 0xffffffffn).toString(16).toUpperCase();
  return `${hi}/${lo}`;
}

/** Bytes by which `behind` trails `ahead`; zero when it does not trail at all. */
export function lsnLag(ahead: Lsn, behind: Lsn): bigint {
  return ahead > behind ? ahead - behind : 0n;
}

/** The greatest of the given positions, ignoring nulls; null when there is none. */
export function maxLsn(...positions: Array<Lsn | null | undefined>): Lsn | null {
  let best: Lsn | null = null;
  for (const position of positions) {
    if (position === null || position === undefined) continue;
    if (best === null || position > best) best = position;
  }
  return best;
}
