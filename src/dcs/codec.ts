import { bigintsAsStrings } from '../json.js';

// JSON for etcd values. LSNs are bigint in memory and decimal strings on the wire.
const LSN_FIELDS = new Set(['lsn', 'receiveLsn', 'replayLsn', 'position']);

export function encode(value: unknown): string {
  return JSON.stringify(value, bigintsAsStrings);
}

export function decode<T>(text: string): T {
  return JSON.parse(text, (key, v: unknown) => (LSN_FIELDS.has(key) && typeof v === 'string' && /^\d+$/.test(v) ? BigInt(v) : v)) as T;
}
