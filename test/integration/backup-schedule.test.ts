import { chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBackups } from '../../src/dcs/backups.js';
import { publishedOtherThan, startAgents, type RunningAgents } from '../support/agents.js';
import { failoverCli, writeCliConfig } from '../support/cli.js';
import { docker, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

// Issue 16, watched and scheduled: the leader takes the first full backup and the first dump
// on its own, `status` shows them, and `failover health` turns unhealthy when WAL archiving
// breaks (the repository made unwritable), and healthy again once it is repaired.

const BACKUP = {
  directory: '/backups',
  schedule: true,
  dumps: { database: 'app', intervalMs: 3_600_000, keep: 30 },
  pgbackrest: { fullIntervalMs: 7 * 86_400_000, diffIntervalMs: 86_400_000, retentionFull: 2 },
};

/** Every path under `dir`, the directory itself included (for chmod -R). */
function walk(dir: string): string[] {
  return [dir, ...readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? walk(join(dir, name)) : [join(dir, name)]))];
}

describe('scheduled backups and their health', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let configFile: string;
  const failover = (...args: string[]) => failoverCli([...args, '--config', configFile], {}, 120_000);

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, backups: true });
    agents = await startAgents(cluster, { config: { backup: BACKUP } });
    ({ file: configFile } = writeCliConfig(cluster, { backup: BACKUP }));
    await cluster.query('pgsql', 'CREATE TABLE IF NOT EXISTS scheduled (n int)');
  });
  afterAll(async () => {
    await agents?.stop();
    await cluster?.stop();
  });

  it('the leader takes a full backup on the primary and a dump from a replica by itself', async () => {
    const good = await eventually(
      async () => {
        const { records } = await readBackups(agents.store.etcd, agents.store.keys);
        const full = records.find((r) => r.kind === 'full' && r.ok);
        const dump = records.find((r) => r.kind === 'dump' && r.ok);
        return full && dump ? { full, dump } : null;
      },
      'a good scheduled full backup and dump in the catalogue',
      180_000,
      1000,
    );
    expect(good.full).toMatchObject({ node: 'pgsql', role: 'primary', by: 'schedule' });
    expect(good.dump).toMatchObject({ role: 'replica', by: 'schedule', database: 'app' });
    expect(good.full.sizeBytes).toBeGreaterThan(0);
    const status = JSON.parse((await failover('status', '--json')).stdout) as { backups?: Array<{ kind: string; last: { id: string } | null }> };
    expect(status.backups?.find((b) => b.kind === 'full')?.last?.id).toBe(good.full.id);
    expect(status.backups?.find((b) => b.kind === 'dump')?.last?.id).toBe(good.dump.id);
  });

  it('health is unhealthy while the repository is unwritable, and healthy again once repaired', async () => {
    const healthy = await eventually(
      async () => {
        const r = await failover('health', '--json');
        return r.code === 0 ? r : null;
      },
      'health exit 0 with archiving working',
      60_000,
      1000,
    );
    expect(JSON.parse(healthy.stdout)).toMatchObject({ healthy: true, backups: { problems: [] } });

    const repository = join(cluster.backupDir!, 'pgbackrest');
    const paths = walk(repository);
    const modes = new Map(paths.map((p) => [p, statSync(p).mode & 0o7777]));
    for (const p of paths) chmodSync(p, (modes.get(p)! & ~0o222) | 0o555);
    try {
      // New WAL to archive: the archiver tries, pgBackRest cannot write, pg_stat_archiver counts it.
      await cluster.query('pgsql', 'INSERT INTO scheduled SELECT generate_series(1, 1000)');
      await cluster.query('pgsql', 'SELECT pg_switch_wal()');
      const broken = await eventually(
        async () => {
          const r = await failover('health', '--json');
          return r.code === 1 ? r : null;
        },
        'health exit 1 while archiving fails',
        60_000,
        1000,
      );
      const report = JSON.parse(broken.stdout) as { healthy: boolean; problems: string[] };
      expect(report.healthy).toBe(false);
      expect(report.problems.join('\n')).toMatch(/archiv/i);
      const text = await failover('health');
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/archiv/i);
    } finally {
      for (const p of paths) chmodSync(p, modes.get(p)!);
    }
    await eventually(
      async () => {
        await cluster.query('pgsql', 'SELECT pg_switch_wal()').catch(() => undefined);
        return (await failover('health')).code === 0;
      },
      'health exit 0 once the repository is writable again',
      120_000,
      2000,
    );
  });

  it('keeps retentionFull full backups: pgBackRest expires the older ones and the catalogue follows', async () => {
    // Two more by hand (the schedule took the first): three in all, two kept.
    for (let i = 0; i < 2; i++) {
      const r = await failover('backup', 'full', '--json');
      expect(r.code, r.stderr).toBe(0);
    }
    const { records } = await readBackups(agents.store.etcd, agents.store.keys);
    const fulls = records.filter((r) => r.kind === 'full' && r.ok);
    expect(fulls).toHaveLength(BACKUP.pgbackrest.retentionFull);
    const labels = await pgbackrestLabels(cluster);
    expect(labels.sort()).toEqual(fulls.map((r) => r.label).sort());
  });

  it('after a failover, the leader takes a differential on the new primary by itself', async () => {
    const killedAt = Date.now();
    await docker.getContainer(cluster.node('pgsql').container).kill();
    const promoted = await publishedOtherThan(agents, 'pgsql');
    const diff = await eventually(
      async () => {
        const { records } = await readBackups(agents.store.etcd, agents.store.keys);
        return records.find((r) => r.kind === 'diff' && r.ok && Date.parse(r.startedAt) > killedAt) ?? null;
      },
      'a scheduled differential after the failover',
      120_000,
      1000,
    );
    expect(diff).toMatchObject({ node: promoted.name, role: 'primary', by: 'schedule' });
    const events = (await failover('events', '--json')).stdout;
    expect(events).toContain('backup-diff-after-promotion');
  });
});

/** The full backups pgBackRest's repository holds, by label (`pgbackrest info` in the primary's container). */
async function pgbackrestLabels(cluster: TestCluster): Promise<string[]> {
  const exec = await docker.getContainer(cluster.node('pgsql').container).exec({ Cmd: ['pgbackrest', `--stanza=t${cluster.runId}`, '--repo1-path=/backups/pgbackrest', '--output=json', 'info'], User: 'postgres', AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const out = new PassThrough();
  out.on('data', (c: Buffer) => chunks.push(c));
  docker.modem.demuxStream(stream, out, new PassThrough());
  await new Promise((resolve) => stream.on('end', resolve));
  const [stanza] = JSON.parse(Buffer.concat(chunks).toString()) as Array<{ backup: Array<{ label: string; type: string }> }>;
  return stanza!.backup.filter((b) => b.type === 'full').map((b) => b.label);
}
