import { ConfigError } from './load.js';

/**
 * The passwords the lab shipped with before issue 15. They are in this repository's
 * history, so anyone can try them: an agent refuses to run with one, unless its config
 * says it is a throw-away lab (`allowPublicLabPasswords: true`).
 */
export const FORMER_LAB_PASSWORDS: readonly string[] = ['lab-postgres-secret', 'lab-replication-secret', 'lab-pgbouncer-secret'];

/** Pure: the first password (by role, never by value) that is a former public one; null when none is. */
export function publicPasswordIn(passwords: Record<string, string | null>): string | null {
  for (const [role, password] of Object.entries(passwords)) {
    if (password !== null && FORMER_LAB_PASSWORDS.includes(password)) return role;
  }
  return null;
}

/** Throws the one line an operator reads when a password is a former public one. */
export function refusePublicPasswords(passwords: Record<string, string | null>, allowed: boolean): void {
  const role = allowed ? null : publicPasswordIn(passwords);
  if (role === null) return;
  throw new ConfigError([
    `config: the password of ${role} is one of the lab's former public passwords; set a random one (npm run lab generates them into .env, see docs/security.md), or mark a throw-away lab with allowPublicLabPasswords: true`,
  ]);
}
