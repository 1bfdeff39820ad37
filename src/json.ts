/** JSON as the CLI prints it (`--json`) and the agent serves it: two-space indent, bigints as decimal strings, a final newline. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, bigintsAsStrings, 2)}\n`;
}

/** LSNs are bigint in memory and decimal strings in JSON, in etcd and on the wire alike. */
export function bigintsAsStrings(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
