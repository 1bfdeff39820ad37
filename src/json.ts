/** JSON as the CLI prints it (`--json`) and the agent serves it: two-space indent, bigints as decimal strings, a final newline. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}
