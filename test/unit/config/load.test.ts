import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, passwordOf } from '../../../src/config/load.js';
import { configProblemsOf as problems } from '../../support/config-problems.js';

const dir = mkdtempSync(join(tmpdir(), 'pgf-config-'));
function file(content: unknown): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}
const node = (name: string) => ({ name, container: name, host: name });


describe('loadConfig', () => {
  it('applies defaults chosen for the speed targets', () => {
    const config = loadConfig({ file: file({ nodes: [node('pgsql')] }) }, {});
    expect(config).toMatchObject({
      cluster: 'main',
      etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: '/pg-failover' },
      timings: { probeIntervalMs: 250, failureTimeMs: 3000, leaseTtlSec: 3 },
      maxLagOnFailover: 16 * 1024 * 1024,
      promoteWith: 'pg_ctl',
    });
    expect(config.nodes[0]).toMatchObject({ port: 5432, tags: { noFailover: false, priority: 0 } });
  });

  it('flags and environment override the file', () => {
    const path = file({ cluster: 'a', nodes: [node('pgsql')] });
    expect(loadConfig({ file: path, cluster: 'b' }, {}).cluster).toBe('b');
    expect(loadConfig({ file: path }, { FAILOVER_CLUSTER: 'c', FAILOVER_ETCD: 'http://10.0.0.1:2379,http://10.0.0.2:2379' })).toMatchObject({
      cluster: 'c',
      etcd: { endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'] },
    });
  });

  it.each([
    ['a missing file', () => loadConfig({ file: join(dir, 'nope.json') }, {}), /config: cannot read .*nope.json: ENOENT/],
    ['a file that is not JSON', () => loadConfig({ file: file('{ nodes: ') }, {}), /is not valid JSON/],
    ['no nodes', () => loadConfig({ file: file({ nodes: [] }) }, {}), /config: nodes: /],
    ['a bad node name, with its path', () => loadConfig({ file: file({ nodes: [node('Replica_1')] }) }, {}), /config: nodes\.0\.name: lower-case letters, digits and dashes/],
    ['a duplicate node', () => loadConfig({ file: file({ nodes: [node('a'), node('a')] }) }, {}), /config: nodes\.1\.name: duplicate node name a/],
    ['an unknown key', () => loadConfig({ file: file({ nodes: [node('a')], typo: 1 }) }, {}), /config: \(root\): .*typo/],
    ['a probe timeout not below the failure time', () => loadConfig({ file: file({ nodes: [node('a')], timings: { probeTimeoutMs: 5000, failureTimeMs: 3000 } }) }, {}), /timings\.probeTimeoutMs: must be shorter than failureTimeMs/],
    ['an etcd URL that is not one', () => loadConfig({ file: file({ nodes: [node('a')] }) }, { FAILOVER_ETCD: 'not a url' }), /config: etcd\.endpoints\.0: /],
    ['an etcd URL with credentials in it', () => loadConfig({ file: file({ nodes: [node('a')] }) }, { FAILOVER_ETCD: 'http://root:etcd-s3cret@127.0.0.1:2379' }), /config: etcd\.endpoints\.0: credentials do not belong in the URL/],
  ])('refuses %s with a line naming the path', (_name, run, line) => {
    const found = problems(run);
    expect(found.some((p) => line.test(p))).toBe(true);
    for (const p of found) expect(p.split('\n')).toHaveLength(1);
  });

  it('never repeats the credentials of an etcd URL it refuses', () => {
    const found = problems(() => loadConfig({ file: file({ nodes: [node('a')], etcd: { endpoints: ['http://127.0.0.1:2379', 'https://user:etcd-s3cret@etcd-2:2379'] } }) }, {}));
    expect(found).toEqual(['config: etcd.endpoints.1: credentials do not belong in the URL; give etcd endpoints as scheme://host:port']);
  });

  it('reads a password from the environment or a file, and names what is missing without revealing anything', () => {
    const secret = file('s3cret\n');
    expect(passwordOf({ user: 'postgres', passwordEnv: 'PW' }, { PW: 'from-env' })).toBe('from-env');
    expect(passwordOf({ user: 'postgres', passwordFile: secret }, {})).toBe('s3cret');
    expect(problems(() => passwordOf({ user: 'postgres', passwordEnv: 'PW' }, {}))).toEqual(['config: environment variable PW (password of postgres) is not set']);
  });
});
