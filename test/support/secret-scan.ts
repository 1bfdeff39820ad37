/**
 * The names of the secrets that `text` holds: as is, URL-encoded or base64-encoded, in any case.
 * Shared by the tests of safety rule 8 (logs, output, etcd, process lists, container inspection).
 */
export function secretsIn(text: string, secrets: Record<string, string>): string[] {
  const haystack = text.toLowerCase();
  return Object.entries(secrets)
    .filter(([, value]) => [value, encodeURIComponent(value), Buffer.from(value).toString('base64')].some((form) => haystack.includes(form.toLowerCase())))
    .map(([name]) => name);
}
