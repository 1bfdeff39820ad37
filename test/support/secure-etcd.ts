import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { applyAccessPlan, type AccessPlan } from '../../src/dcs/access-control.js';
import { createEtcd, type EtcdOptions } from '../../src/dcs/client.js';
import { freePort, TEST_LABEL } from './cluster.js';

/**
 * One etcd member locked down as the lab's (issue 15): TLS with a client certificate
 * required, authentication on, the agents' role on `<prefix>/<cluster>/` and the
 * read-only role, made by the product's own applyAccessPlan. Certificates come from
 * scripts/tls (openssl) into a directory of this run.
 */
export interface SecureEtcd {
  url: string;
  dir: string;
  plan: AccessPlan;
  /** The config's etcd section for a login (files under dir): agent, reader, root, or none. */
  options(login: 'agent' | 'reader' | 'root' | 'none', overrides?: Partial<EtcdOptions>): EtcdOptions;
  stop(): Promise<void>;
}

export async function startSecureEtcd(cluster = 'main', prefix = '/pg-failover'): Promise<SecureEtcd> {
  const runId = randomBytes(3).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `pgf-test-${process.pid}-etcd-`));
  chmodSync(dir, 0o755);
  const tls = (...args: string[]) => execFileSync('bash', ['scripts/tls', ...args], { stdio: 'pipe' });
  tls('ca', dir);
  tls('server', dir, 'server', 'etcd', 'etcd', 'localhost', '127.0.0.1');
  tls('client', dir, 'client', 'pg-failover-test-client');
  // The etcd container reads the key as root; the host copy stays in this run's directory.
  const password = () => randomBytes(12).toString('hex');
  const plan: AccessPlan = { prefix, cluster, rootPassword: password(), agent: { user: 'pgf-agent', password: password() }, reader: { user: 'pgf-reader', password: password() } };
  for (const [file, value] of [
    ['root', plan.rootPassword],
    ['agent', plan.agent.password],
    ['reader', plan.reader.password],
  ] as const) {
    writeFileSync(join(dir, `${file}.password`), `${value}\n`, { mode: 0o600 });
  }
  const port = await freePort();
  const container: StartedTestContainer = await new GenericContainer('pg-failover/etcd:lab')
    .withName(`pgf-${runId}-secure-etcd`)
    .withLabels({ [TEST_LABEL]: 'true', 'pg-failover.run': runId, 'pg-failover.pid': String(process.pid) })
    .withBindMounts([{ source: dir, target: '/etc/etcd/tls', mode: 'ro' }])
    .withEnvironment({
      ETCD_NAME: 'etcd',
      ETCD_LISTEN_CLIENT_URLS: 'https://0.0.0.0:2379',
      ETCD_ADVERTISE_CLIENT_URLS: 'https://etcd:2379',
      ETCD_LISTEN_PEER_URLS: 'https://0.0.0.0:2380',
      ETCD_INITIAL_ADVERTISE_PEER_URLS: 'https://etcd:2380',
      ETCD_INITIAL_CLUSTER: 'etcd=https://etcd:2380',
      ETCD_CERT_FILE: '/etc/etcd/tls/server.crt',
      ETCD_KEY_FILE: '/etc/etcd/tls/server.key',
      ETCD_TRUSTED_CA_FILE: '/etc/etcd/tls/ca.crt',
      ETCD_CLIENT_CERT_AUTH: 'true',
      ETCD_PEER_CERT_FILE: '/etc/etcd/tls/server.crt',
      ETCD_PEER_KEY_FILE: '/etc/etcd/tls/server.key',
      ETCD_PEER_TRUSTED_CA_FILE: '/etc/etcd/tls/ca.crt',
      ETCD_PEER_CLIENT_CERT_AUTH: 'true',
    })
    .withExposedPorts({ container: 2379, host: port })
    .withWaitStrategy(Wait.forLogMessage(/ready to serve client requests/))
    .withStartupTimeout(60_000)
    .start();
  const url = `https://127.0.0.1:${port}`;
  const options = (login: 'agent' | 'reader' | 'root' | 'none', overrides: Partial<EtcdOptions> = {}): EtcdOptions => ({
    endpoints: [url],
    callTimeoutMs: 5000,
    cacert: join(dir, 'ca.crt'),
    cert: join(dir, 'client.crt'),
    key: join(dir, 'client.key'),
    ...(login === 'none' ? {} : { user: login === 'agent' ? plan.agent.user : login === 'reader' ? plan.reader.user : 'root', passwordFile: join(dir, `${login}.password`) }),
    ...overrides,
  });
  const setup = createEtcd(options('none'));
  try {
    await applyAccessPlan(setup, plan);
  } finally {
    setup.close();
  }
  return {
    url,
    dir,
    plan,
    options,
    stop: async () => {
      await container.stop({ remove: true, removeVolumes: true }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
