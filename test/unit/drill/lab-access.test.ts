import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/load.js';
import { configSchema } from '../../../src/config/schema.js';
import { LabAccess } from '../../../src/drill/lab-access.js';
import { makeTestCa, type TestCa } from '../../support/test-ca.js';

// Issue 15 item 3: drills and `failover health` reach the nodes from the Docker host with
// the same TLS as the agents (the nodes' certificates name 127.0.0.1 for that).

const env = { POSTGRES_PASSWORD: 'p' };
let ca: TestCa;
beforeAll(() => {
  ca = makeTestCa();
});

const config = (tls?: unknown) =>
  configSchema.parse({
    nodes: [{ name: 'pgsql', container: 'pgsql', host: 'pgsql', hostPort: 15432 }],
    endpoints: { write: { container: 'pgbouncer-write', host: 'pgbouncer-write', hostPort: 16432 } },
    ...(tls === undefined ? {} : { tls: { nodeCa: '/etc/pg-failover/tls/ca.crt', ...(tls as object) } }),
  });

describe('LabAccess with tls', () => {
  it("gives node endpoints the config's sslmode and CA (read at start)", () => {
    const access = new LabAccess(config({ mode: 'verify-full', ca: ca.caFile }), env);
    expect(access.endpoint(access.node('pgsql'))).toMatchObject({ host: '127.0.0.1', port: 15432, tls: { mode: 'verify-full', ca: ca.ca } });
  });

  it('without tls, endpoints are plain as before', () => {
    const access = new LabAccess(config(), env);
    expect(access.endpoint(access.node('pgsql')).tls).toBeUndefined();
  });

  it('a CA file that cannot be read is one clear config error', () => {
    const missing = join(ca.dir, 'missing.crt');
    try {
      new LabAccess(config({ mode: 'verify-ca', ca: missing }), env);
      expect.unreachable('LabAccess accepted a missing CA file');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([`config: tls.ca: cannot read ${missing} (ENOENT)`]);
    }
  });
});
