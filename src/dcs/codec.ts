import type { z } from 'zod';
import { bigintsAsStrings } from '../json.js';

// JSON for etcd values. LSNs are bigint in memory and decimal strings on the wire.
const LSN_FIELDS = new Set(['lsn', 'receiveLsn', 'replayLsn', 'position']);

export function encode(value: unknown): string {
  return JSON.stringify(value, bigintsAsStrings);
}

export function decode<T>(text: string): T {
  return JSON.parse(text, (key, v: unknown) => (LSN_FIELDS.has(key) && typeof v === 'string' && /^\d+$/.test(v) ? BigInt(v) : v)) as T;
}

/** A value read from etcd, checked: the value, or what is wrong with it (never the value itself, which may be anything). */
export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Decodes and validates one etcd value; never throws. */
export function decodeAs<S extends z.ZodType>(text: string, schema: S): Checked<z.infer<S>> {
  let value: unknown;
  try {
    value = decode<unknown>(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  // The path may hold keys of the value (a view's node names): printable, and bounded.
  const path = printableKey((issue?.path ?? []).map(String).join('.')).slice(0, 200);
  return { ok: false, problem: `${path || 'value'}: ${issue?.message ?? 'invalid'}` };
}

/** A key as a log line or `status` may print it: control characters escaped, so it stays on one line. */
export function printableKey(key: string): string {
  return key.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
