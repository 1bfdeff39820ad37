import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { baseDirOf } from '../../../src/config/paths.js';

describe('relative paths in a config', () => {
  it('a file in a config/ folder resolves against the folder above it (the repository)', () => {
    expect(baseDirOf('/repo/config/lab.json')).toBe('/repo');
    expect(baseDirOf('/etc/pg-failover/cluster.json')).toBe('/etc/pg-failover');
  });

  it('certificates, keys and password files resolve; paths inside containers stay as they are', () => {
    const repo = mkdtempSync(join(tmpdir(), 'pgf-paths-'));
    mkdirSync(join(repo, 'config'));
    const file = join(repo, 'config', 'x.json');
    writeFileSync(
      file,
      JSON.stringify({
        etcd: { endpoints: ['https://127.0.0.1:2379'], cacert: '.lab/tls/ca.crt', cert: '.lab/tls/c.crt', key: '/abs/c.key', user: 'a', passwordFile: '.lab/secrets/a', reader: { user: 'r', passwordFile: '.lab/secrets/r' } },
        tls: { ca: '.lab/tls/ca.crt', nodeCa: '/etc/pg-failover/tls/ca.crt' },
        replicationPassfile: '/var/lib/postgresql/.pgpass-replication',
        superuser: { user: 'postgres', passwordFile: 'secrets/pg' },
        nodes: [{ name: 'a', container: 'a', host: 'a' }],
      }),
    );
    const config = loadConfig({ file }, {});
    expect(config.etcd.cacert).toBe(join(repo, '.lab/tls/ca.crt'));
    expect(config.etcd.cert).toBe(join(repo, '.lab/tls/c.crt'));
    expect(config.etcd.key).toBe('/abs/c.key');
    expect(config.etcd.passwordFile).toBe(join(repo, '.lab/secrets/a'));
    expect(config.etcd.reader?.passwordFile).toBe(join(repo, '.lab/secrets/r'));
    expect(config.tls?.ca).toBe(join(repo, '.lab/tls/ca.crt'));
    expect(config.tls?.nodeCa).toBe('/etc/pg-failover/tls/ca.crt');
    expect(config.superuser.passwordFile).toBe(join(repo, 'secrets/pg'));
    expect(config.replicationPassfile).toBe('/var/lib/postgresql/.pgpass-replication');
  });
});
