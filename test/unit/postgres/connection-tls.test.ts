import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, discard, type Endpoint, type EndpointTls } from '../../../src/postgres/connection.js';
import { startFakePostgres, type FakePostgres } from '../../support/fake-postgres.js';
import { makeTestCa, type TestCa } from '../../support/test-ca.js';

// Issue 15 item 3: the agents' connections follow libpq's sslmode, checked on the wire
// against a stand-in server whose certificate the test controls.

let ours: TestCa;
let foreign: TestCa;
const servers: FakePostgres[] = [];

beforeAll(() => {
  ours = makeTestCa();
  foreign = makeTestCa();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(certificate: { cert: string; key: string } | null, host = '127.0.0.1'): Promise<FakePostgres> {
  const s = await startFakePostgres(certificate, host);
  servers.push(s);
  return s;
}

const endpoint = (port: number, tls?: EndpointTls, host = '127.0.0.1'): Endpoint => ({ host, port, user: 'postgres', password: 'secret', database: 'postgres', ...(tls ? { tls } : {}) });

/** Connects and closes; resolves to the error message when the connect fails, else null. */
async function attempt(e: Endpoint): Promise<string | null> {
  try {
    discard(await connect(e, { timeoutMs: 3000 }));
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('connect() with sslmode verify-full', () => {
  it('connects over TLS to a server whose certificate our CA signed for the IP address connected to', async () => {
    const s = await server(ours.server('ip-node', '127.0.0.1'));
    expect(await attempt(endpoint(s.port, { mode: 'verify-full', ca: ours.ca }))).toBeNull();
    expect(s.sessions.at(-1)).toMatchObject({ askedForTls: true, tls: true, servername: null, user: 'postgres' });
  });

  it('refuses a certificate that names another host than the IP address connected to', async () => {
    const s = await server(ours.server('named-node', 'pgsql', 'localhost'));
    expect(await attempt(endpoint(s.port, { mode: 'verify-full', ca: ours.ca }))).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it('checks a DNS host name against the DNS names of the certificate (and sends it as SNI)', async () => {
    const named = await server(ours.server('localhost-node', 'localhost'));
    expect(await attempt(endpoint(named.port, { mode: 'verify-full', ca: ours.ca }, 'localhost'))).toBeNull();
    expect(named.sessions.at(-1)).toMatchObject({ tls: true, servername: 'localhost' });
    const other = await server(ours.server('other-node', 'pgsql-replica-1'));
    expect(await attempt(endpoint(other.port, { mode: 'verify-full', ca: ours.ca }, 'localhost'))).toMatch(/Host: localhost\.? is not in the cert's altnames/);
  });

  it('refuses a server whose certificate another CA signed', async () => {
    const s = await server(foreign.server('foreign-node', '127.0.0.1'));
    expect(await attempt(endpoint(s.port, { mode: 'verify-full', ca: ours.ca }))).toMatch(/self[- ]signed|unable to verify|certificate/i);
  });

  it('refuses a server that does not speak TLS, rather than going on in plain text', async () => {
    const s = await server(null);
    expect(await attempt(endpoint(s.port, { mode: 'verify-full', ca: ours.ca }))).toMatch(/does not support SSL/);
    expect(s.sessions.at(-1)).toMatchObject({ askedForTls: true, tls: false, user: null });
  });
});

describe('connect() with the other sslmodes', () => {
  it('verify-ca checks the CA but not the host name', async () => {
    const s = await server(ours.server('ca-only-node', 'pgsql'));
    expect(await attempt(endpoint(s.port, { mode: 'verify-ca', ca: ours.ca }))).toBeNull();
    expect(s.sessions.at(-1)).toMatchObject({ tls: true });
    const f = await server(foreign.server('ca-only-foreign', 'pgsql'));
    expect(await attempt(endpoint(f.port, { mode: 'verify-ca', ca: ours.ca }))).not.toBeNull();
  });

  it('require encrypts without checking the certificate', async () => {
    const s = await server(foreign.server('require-node', 'elsewhere'));
    expect(await attempt(endpoint(s.port, { mode: 'require' }))).toBeNull();
    expect(s.sessions.at(-1)).toMatchObject({ tls: true });
  });

  it('disable, and no tls at all, never ask for TLS', async () => {
    const s = await server(ours.server('plain-node', '127.0.0.1'));
    expect(await attempt(endpoint(s.port, { mode: 'disable' }))).toBeNull();
    expect(await attempt(endpoint(s.port))).toBeNull();
    expect(s.sessions.map((x) => x.askedForTls)).toEqual([false, false]);
  });
});
