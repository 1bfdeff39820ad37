import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgBouncerAdmin } from '../../../src/pgbouncer/admin.js';
import { startFakePostgres, type FakePostgres } from '../../support/fake-postgres.js';

// The leader's PgBouncer admin sessions run one after another (the endpoint switcher's
// queue): one that never ends holds back every later change, the RESUME of a held write
// endpoint included, and applications wait for good. A PgBouncer that answers but never
// closes a session (wedged, as 1.18 can be after KILL with clients waiting) must not do that.

let wedged: FakePostgres;
beforeAll(async () => {
  wedged = await startFakePostgres(null, '127.0.0.1', { neverClose: true });
});
afterAll(async () => {
  await wedged.close();
});

describe('a PgBouncer admin session', () => {
  it('ends within its deadline when the server never closes the connection', async () => {
    const admin = new PgBouncerAdmin({ host: '127.0.0.1', port: wedged.port, user: 'pgbouncer', password: 'a' });
    const outcome = await Promise.race([
      admin.command(['RESUME app'], 1000).then(() => 'returned'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref()),
    ]);
    expect(outcome).toBe('returned');
    expect(wedged.sessions).toHaveLength(1);
  });
});
