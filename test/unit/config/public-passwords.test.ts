import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/load.js';
import { FORMER_LAB_PASSWORDS, publicPasswordIn, refusePublicPasswords } from '../../../src/config/public-passwords.js';

describe('the former public lab passwords', () => {
  it.each(FORMER_LAB_PASSWORDS.map((p) => [p]))('%s is refused, naming the role and not the password', (password) => {
    let error: unknown;
    try {
      refusePublicPasswords({ 'superuser postgres': 'a-random-one', 'replication user replicator': password }, false);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('replication user replicator');
    expect((error as Error).message).not.toContain(password);
    expect((error as Error).message.split('\n')).toHaveLength(1);
  });

  it('passes random passwords and an absent one', () => {
    expect(publicPasswordIn({ a: '3f9c2e…', b: null })).toBeNull();
    expect(() => refusePublicPasswords({ a: 'x7', b: null }, false)).not.toThrow();
  });

  it('a lab marked allowPublicLabPasswords may keep them', () => {
    expect(() => refusePublicPasswords({ a: 'lab-postgres-secret' }, true)).not.toThrow();
  });
});
