import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTORE_LABEL } from '../../src/backup/restore-container.js';
import { readBackups, type BackupRecord } from '../../src/dcs/backups.js';
import { publishedOtherThan, startAgents, type RunningAgents } from '../support/agents.js';
import { docker, POSTGRES_PASSWORD, startCluster, type TestCluster } from '../support/cluster.js';
import { failoverCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';

// pgBackRest end to end through the built CLI (build dist first): the stanza and a full backup,
// WAL archived by whichever node is primary (after a failover and after a switchover, new
// timelines and .history files included, with no operator action), and a point-in-time copy
// beside the cluster: rows written, the time T noted, more rows, the primary killed, more rows
// on the new primary, then `backup restore --to T`: exactly the rows committed before T.

interface Archiver {
  archived_count: string;
  failed_count: string;
  last_archived_wal: string | null;
  last_failed_wal: string | null;
}

describe('pgBackRest: archiving that follows the primary, full and diff backups, point-in-time restore', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let dir: string;
  let configFile: string;
  const copies: string[] = [];
  const cli = (args: string[], file = configFile) => failoverCli(['backup', ...args], { FAILOVER_CONFIG: file, FAILOVER_ETCD: '' }, 300_000);
  const archiveDir = () => {
    const stanzaDir = join(cluster.backupDir!, 'pgbackrest', 'archive', cluster.config().cluster);
    return join(stanzaDir, readdirSync(stanzaDir).find((d) => /^\d+-\d+$/.test(d))!);
  };
  const archived = (name: string) => existsSync(archiveDir()) && readdirSync(archiveDir(), { recursive: true }).some((f) => String(f).split('/').pop()!.startsWith(name));
  const archiverOf = async (node: string) => (await cluster.query<Archiver>(node, 'SELECT archived_count, failed_count, last_archived_wal, last_failed_wal FROM pg_stat_archiver'))[0]!;

  /**
   * Switches WAL on `node` and waits until the segment it just finished is in the repository.
   * Not by pg_stat_archiver's last_archived_wal: at a promotion the new primary also archives
   * older segments it holds with no archive status (its clone's, of the old timeline), and the
   * last one archived can be older than the newest.
   */
  async function switchAndArchive(node: string): Promise<{ segment: string; archiver: Archiver }> {
    await cluster.query(node, 'SELECT txid_current()');
    const segment = (await cluster.query<{ f: string }>(node, 'SELECT pg_walfile_name(pg_switch_wal()) AS f'))[0]!.f;
    await eventually(async () => archived(segment), `${node} archived ${segment}`, 30_000, 200);
    return { segment, archiver: await archiverOf(node) };
  }

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, backups: true });
    agents = await startAgents(cluster);
    dir = mkdtempSync(join(tmpdir(), 'pgf-backup-pitr-'));
    configFile = join(dir, 'cluster.json');
    writeFileSync(configFile, JSON.stringify(cluster.config({ database: 'app' })));
  });

  afterAll(async () => {
    for (const name of copies) {
      const found = await docker.listContainers({ all: true, filters: { label: [`${RESTORE_LABEL}=${name}`] } });
      await Promise.all(found.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
      await docker.getVolume(`pgf-restore-${name}`).remove().catch(() => undefined);
    }
    await agents?.stop();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad input and a restore with no backup, creating nothing', async () => {
    const name = `none-${cluster.runId}`;
    const cases: Array<[string[], number, RegExp]> = [
      [['restore', '--to', '2026-01-01T00:00:00', '--as', name], 2, /neither a time nor an LSN; expected an ISO time with its zone/],
      [['restore', '--to', '0/3000060', '--as', 'Not_Valid'], 2, /--as 'Not_Valid' is not a valid name/],
      [['restore', '--to', new Date(Date.now() - 1000).toISOString(), '--as', name], 1, /holds no backup to restore from; take one first/],
    ];
    for (const [args, code, message] of cases) {
      const result = await cli(args);
      expect({ args, code: result.code, stderr: result.stderr }).toMatchObject({ code, stderr: expect.stringMatching(message) });
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    const noBackupSection = join(dir, 'no-backup.json');
    const { backup: _omitted, ...rest } = cluster.config();
    writeFileSync(noBackupSection, JSON.stringify(rest));
    const refused = await cli(['full'], noBackupSection);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringMatching(/the config has no backup section/) });
    expect(await docker.listContainers({ all: true, filters: { label: [`${RESTORE_LABEL}=${name}`] } })).toEqual([]);
    await expect(docker.getVolume(`pgf-restore-${name}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('takes a full and a differential backup on the primary, recorded in the catalogue', async () => {
    await cluster.query('pgsql', 'CREATE TABLE IF NOT EXISTS ballast AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 200000) g', []);
    const full = await cli(['full', '--json']);
    expect(full.stderr).toBe('');
    expect(full.code).toBe(0);
    const record = JSON.parse(full.stdout) as BackupRecord;
    expect(record).toMatchObject({ kind: 'full', ok: true, node: 'pgsql', role: 'primary', label: expect.stringMatching(/^\d{8}-\d{6}F$/), walStart: expect.stringMatching(/^0{7}1/) });
    expect(record.sizeBytes).toBeGreaterThan(0);
    console.log(`full backup: ${record.label}, ${record.sizeBytes} bytes in the repository, ${record.durationMs} ms`);

    const diff = await cli(['diff', '--json']);
    expect(diff.code).toBe(0);
    const diffRecord = JSON.parse(diff.stdout) as BackupRecord;
    expect(diffRecord).toMatchObject({ kind: 'diff', ok: true, label: expect.stringMatching(new RegExp(`^${record.label}_\\d{8}-\\d{6}D$`)) });
    console.log(`diff backup: ${diffRecord.label}, ${diffRecord.sizeBytes} bytes, ${diffRecord.durationMs} ms`);

    const { records } = await readBackups(agents.store.etcd, agents.store.keys);
    expect(records.map((r) => r.id).sort()).toEqual([record.id, diffRecord.id].sort());
    const archiver = await archiverOf('pgsql');
    expect(Number(archiver.archived_count)).toBeGreaterThan(0);
    expect(Number(archiver.failed_count)).toBe(0);
  });

  it('restores to a time before a failover: exactly the rows committed before it', async () => {
    await cluster.query('pgsql', 'CREATE TABLE pitr (id int PRIMARY KEY)');
    await cluster.query('pgsql', 'INSERT INTO pitr SELECT generate_series(1, 100)');
    // T on the primary's clock, after those commits; the next rows commit after it.
    const target = (await cluster.query<{ t: string }>('pgsql', `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`))[0]!.t;
    await eventually(async () => (await cluster.query<{ after: boolean }>('pgsql', 'SELECT clock_timestamp() > $1::timestamptz AS after', [target]))[0]!.after, 'the primary\'s clock past T');
    // The same point as an LSN: the end of the WAL written so far (the first 100 rows' commits are before it).
    const targetLsn = (await cluster.query<{ lsn: string }>('pgsql', 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    await cluster.query('pgsql', 'INSERT INTO pitr SELECT generate_series(101, 200)');
    await eventually(async () => (await cluster.query<{ n: string }>('replica-1', 'SELECT count(*) AS n FROM pitr'))[0]?.n === '200', 'rows on replica-1', 10_000);
    await eventually(async () => (await cluster.query<{ n: string }>('replica-2', 'SELECT count(*) AS n FROM pitr'))[0]?.n === '200', 'rows on replica-2', 10_000);

    await docker.getContainer(cluster.node('pgsql').container).kill();
    const published = await publishedOtherThan(agents, 'pgsql');
    expect(published.timeline).toBe(2);
    await cluster.query(published.name, 'INSERT INTO pitr SELECT generate_series(201, 300)');
    // The new primary archives on its own timeline, its .history file first, with no operator action.
    const { segment, archiver } = await switchAndArchive(published.name);
    expect(segment.slice(0, 8)).toBe('00000002');
    expect(Number(archiver.archived_count)).toBeGreaterThan(0);
    expect(Number(archiver.failed_count)).toBe(0);
    await eventually(async () => archived('00000002.history'), '00000002.history in the archive', 10_000);

    const name = `pitr-${cluster.runId}`;
    copies.push(name);
    const started = Date.now();
    const result = await cli(['restore', '--to', target, '--as', name, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const copy = JSON.parse(result.stdout) as { ok: boolean; container: string; volume: string; hostPort: number; backupSet: string; timeline: number; restoreMs: number; recoveryMs: number; totalMs: number; remove: string };
    console.log(`restore to T across a failover: ${Date.now() - started} ms by the CLI (pgbackrest restore ${copy.restoreMs} ms, recovery ${copy.recoveryMs} ms), set ${copy.backupSet}, timeline ${copy.timeline}`);
    expect(copy).toMatchObject({ ok: true, container: `pgf-restore-${name}`, volume: `pgf-restore-${name}`, remove: `docker rm -f pgf-restore-${name} && docker volume rm pgf-restore-${name}` });
    expect(copy.timeline).toBeGreaterThan(2);

    const client = new pg.Client({ host: '127.0.0.1', port: copy.hostPort, user: 'postgres', password: POSTGRES_PASSWORD, database: 'postgres', connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const ids = (await client.query<{ id: number }>('SELECT id FROM pitr ORDER BY id')).rows.map((r) => r.id);
      expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      const settings = (await client.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'synchronous_standby_names', 'primary_conninfo')`)).rows;
      expect(Object.fromEntries(settings.map((s) => [s.name, s.setting]))).toEqual({ archive_mode: 'off', synchronous_standby_names: '', primary_conninfo: '' });
      // The copy takes writes, and none of them (nor its timeline) reaches the cluster's archive.
      await client.query('INSERT INTO pitr VALUES (1000)');
      await client.query('SELECT pg_switch_wal()');
    } finally {
      await client.end().catch(() => undefined);
    }
    const info = await docker.getContainer(copy.container).inspect();
    expect(info.Mounts.find((m) => m.Destination === '/backups')).toMatchObject({ RW: false });
    // The node it was made from has POSTGRES_PASSWORD in its environment (this test cluster); the copy takes names only.
    expect(info.Config.Env.join('\n')).not.toMatch(/PASSWORD|secret/i);
    expect(archived(`${copy.timeline.toString(16).toUpperCase().padStart(8, '0')}.history`)).toBe(false);

    // The same point by LSN: the same 100 rows.
    const byLsn = `lsn-${cluster.runId}`;
    copies.push(byLsn);
    const lsnResult = await cli(['restore', '--to', targetLsn, '--as', byLsn, '--json']);
    expect(lsnResult.code).toBe(0);
    const lsnCopy = JSON.parse(lsnResult.stdout) as { hostPort: number; target: { type: string; value: string } };
    expect(lsnCopy.target).toEqual({ type: 'lsn', value: targetLsn });
    const lsnClient = new pg.Client({ host: '127.0.0.1', port: lsnCopy.hostPort, user: 'postgres', password: POSTGRES_PASSWORD, database: 'postgres', connectionTimeoutMillis: 5000 });
    lsnClient.on('error', () => undefined);
    await lsnClient.connect();
    try {
      expect((await lsnClient.query<{ n: string; max: number }>('SELECT count(*) AS n, max(id) AS max FROM pitr')).rows[0]).toEqual({ n: '100', max: 100 });
    } finally {
      await lsnClient.end().catch(() => undefined);
    }

    // A second copy of the same name is refused, and nothing of the first is touched.
    const again = await cli(['restore', '--to', target, '--as', name]);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringMatching(new RegExp(`a container named pgf-restore-${name} exists already`)) });
    expect((await docker.getContainer(copy.container).inspect()).State.Running).toBe(true);
  });

  it('archives on the new primary after a switchover too, and backs it up', async () => {
    const from = (await agents.store.published())!.name;
    const to = ['replica-1', 'replica-2'].find((n) => n !== from)!;
    const promoted = await failoverCli(['promote', to, '--json'], { FAILOVER_CONFIG: configFile, FAILOVER_ETCD: '' }, 120_000);
    expect(promoted.code).toBe(0);
    expect(JSON.parse(promoted.stdout)).toMatchObject({ ok: true, from, to, kind: 'switchover' });
    const before = await archiverOf(to);
    const { segment, archiver } = await switchAndArchive(to);
    expect(segment.slice(0, 8)).toBe('00000003');
    expect(Number(archiver.archived_count)).toBeGreaterThan(Number(before.archived_count));
    expect(Number(archiver.failed_count)).toBe(0);
    await eventually(async () => archived('00000003.history'), '00000003.history in the archive', 10_000);

    const diff = await cli(['diff', '--json']);
    expect(diff.code).toBe(0);
    expect(JSON.parse(diff.stdout)).toMatchObject({ kind: 'diff', ok: true, node: to, walStart: expect.stringMatching(/^00000003/) });
  });
});
