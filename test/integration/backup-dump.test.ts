import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withBackupLock } from '../../src/dcs/backup-lock.js';
import { readBackups, type BackupRecord } from '../../src/dcs/backups.js';
import { startAgents, type RunningAgents } from '../support/agents.js';
import { APP_USER, docker, startCluster, type TestCluster } from '../support/cluster.js';
import { failoverCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';

// The plan's dumps, end to end through the built CLI (build dist first): a dump taken from a
// streaming replica, in the catalogue and on the shared volume with its size and checksum,
// restored into a scratch database with the same rows and owners; the refusals that change
// nothing; a recovery conflict taken again elsewhere; the primary only when no replica can
// serve; retention.

const TABLES: Record<'orders' | 'notes', number> = { orders: 5000, notes: 321 };

describe('failover backup dump, list and restore-dump', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let dir: string;
  let configFile: string;
  const cli = (args: string[], file = configFile) => failoverCli(['backup', ...args], { FAILOVER_CONFIG: file, FAILOVER_ETCD: '' }, 120_000);

  function writeConfig(name: string, keep = 30): string {
    const file = join(dir, name);
    const config = cluster.config({ database: 'app', backup: { directory: '/backups', schedule: false, dumps: { keep } } });
    writeFileSync(file, JSON.stringify(config));
    return file;
  }

  async function appClient(database = 'app'): Promise<pg.Client> {
    return cluster.client('pgsql', { database });
  }

  async function rowCounts(database: string): Promise<Record<string, number>> {
    const client = await appClient(database);
    try {
      const counts: Record<string, number> = {};
      for (const table of Object.keys(TABLES)) counts[table] = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
      return counts;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async function databaseExists(name: string): Promise<boolean> {
    return (await cluster.query('pgsql', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
  }

  async function catalogue(): Promise<BackupRecord[]> {
    return (await readBackups(agents.store.etcd, agents.store.keys)).records;
  }

  async function dumpNow(file = configFile): Promise<BackupRecord & { attempts: Array<{ id: string; node: string; role: string; ok: boolean; error?: string }>; source: { rule: string } }> {
    const result = await cli(['dump', '--now', '--json'], file);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(result.stdout);
  }

  const fileOf = (id: string) => join(cluster.backupDir!, 'dumps', `${id}.dump`);
  const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  /** Every fresh agent view sees `node`'s container stopped, so no source choice counts on it. */
  async function seenDown(node: string): Promise<void> {
    await eventually(async () => {
      const views = await agents.store.views();
      return views.length > 0 && views.every((v) => v.nodes[node] !== undefined && v.nodes[node]!.container !== 'running');
    }, `every agent sees ${node} stopped`, 30_000);
  }

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, backups: true, appRoles: true });
    agents = await startAgents(cluster);
    dir = mkdtempSync(join(tmpdir(), 'pgf-backup-dump-'));
    configFile = writeConfig('cluster.json');
    const client = await appClient();
    try {
      await client.query('CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, total numeric(12,2), meta jsonb)');
      await client.query(`INSERT INTO orders SELECT g, 'customer ' || g, g * 1.25, jsonb_build_object('n', g) FROM generate_series(1, ${TABLES.orders}) g`);
      await client.query('CREATE TABLE notes (id serial PRIMARY KEY, body text)');
      await client.query(`INSERT INTO notes (body) SELECT repeat('x', g % 50) FROM generate_series(1, ${TABLES.notes}) g`);
      // As the application would have made them: its role owns its tables.
      await client.query(`ALTER TABLE orders OWNER TO ${APP_USER}; ALTER TABLE notes OWNER TO ${APP_USER}`);
    } finally {
      await client.end().catch(() => undefined);
    }
    // Every replica has replayed the tables (a dump from a replica must see them).
    const lsn = (await cluster.query<{ lsn: string }>('pgsql', 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    for (const replica of ['replica-1', 'replica-2']) {
      await eventually(async () => (await cluster.query<{ ok: boolean }>(replica, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]?.ok, `${replica} replayed the tables`, 30_000);
    }
  });

  afterAll(async () => {
    await agents?.stop();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let first: BackupRecord;

  it('takes a dump from a streaming replica, with its size and sha256 on the shared volume', async () => {
    first = await dumpNow();
    expect(first).toMatchObject({ ok: true, kind: 'dump', role: 'replica', database: 'app', source: { rule: 'backup-source-dump-replica' } });
    expect(['replica-1', 'replica-2']).toContain(first.node);
    const path = fileOf(first.id);
    expect(statSync(path).size).toBe(first.sizeBytes);
    expect(sha256Of(path)).toBe(first.sha256);
    expect(readdirSync(join(cluster.backupDir!, 'dumps')).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect((await catalogue()).find((r) => r.id === first.id)).toMatchObject({ ok: true, sha256: first.sha256, sizeBytes: first.sizeBytes, node: first.node });
    console.log(`dump of ${Object.values(TABLES).reduce((a, b) => a + b)} rows: ${first.sizeBytes} bytes in ${first.durationMs} ms from ${first.node}`);

    const text = await cli(['dump']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`last good dump: ${first.id} from ${first.node} (replica)`);
    expect(text.stdout).toContain('schedule off');
  });

  it('lists it, newest first, with node, size, duration and checksum', async () => {
    const result = await cli(['list', '--json']);
    expect(result.code).toBe(0);
    const listed = JSON.parse(result.stdout) as { backups: BackupRecord[]; unreadable: string[] };
    expect(listed.unreadable).toEqual([]);
    expect(listed.backups[0]).toMatchObject({ id: first.id, kind: 'dump', node: first.node, role: 'replica', sizeBytes: first.sizeBytes, durationMs: first.durationMs, sha256: first.sha256, ok: true });
    const text = await cli(['list']);
    expect(text.stdout.split('\n')[0]).toMatch(new RegExp(`^${first.id}  dump  \\S+  ${first.node} \\(replica\\)  .* ms  sha256 ${first.sha256!.slice(0, 16)}…  ok$`));
  });

  it('restores it into a new database: the same rows, the same owners', async () => {
    const result = await cli(['restore-dump', first.id, '--into', 'scratch', '--json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ ok: true, id: first.id, node: 'pgsql', database: 'scratch', owner: APP_USER });
    console.log(`restore of ${first.id}: ${out.ms} ms (checksum ${out.verifyMs} ms, pg_restore ${out.restoreMs} ms)`);
    expect(await rowCounts('scratch')).toEqual(TABLES);
    expect(await rowCounts('scratch')).toEqual(await rowCounts('app'));
    const owner = await cluster.query<{ owner: string }>('pgsql', "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'scratch'");
    expect(owner).toEqual([{ owner: APP_USER }]);
    const scratch = await appClient('scratch');
    try {
      const tables = await scratch.query<{ tablename: string; tableowner: string }>("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
      expect(tables.rows).toEqual([
        { tablename: 'notes', tableowner: APP_USER },
        { tablename: 'orders', tableowner: APP_USER },
      ]);
    } finally {
      await scratch.end().catch(() => undefined);
    }
  });

  it('refuses to restore into a database that exists, and changes nothing', async () => {
    const scratch = await appClient('scratch');
    await scratch.query("INSERT INTO notes (body) VALUES ('written after the restore')");
    await scratch.end();
    const before = await rowCounts('scratch');
    const result = await cli(['restore-dump', first.id, '--into', 'scratch']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([`failover: restore-dump: database scratch exists already; choose another --into (nothing was changed)`]);
    expect(await rowCounts('scratch')).toEqual(before);
  });

  it('refuses a file whose checksum does not match its record, and creates nothing', async () => {
    const tampered = await dumpNow();
    appendFileSync(fileOf(tampered.id), 'tampered');
    const result = await cli(['restore-dump', tampered.id, '--into', 'from_tampered']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^failover: restore-dump: dumps/${tampered.id}\\.dump does not match its record: sha256 [0-9a-f]{64}, recorded ${tampered.sha256}; the file changed after the dump, nothing restored\\n$`));
    expect(await databaseExists('from_tampered')).toBe(false);
  });

  it('refuses an unknown id, a malformed one, a bad database name, and a config without backups, each in one line', async () => {
    const unknown = await cli(['restore-dump', 'dump-20000101T000000Z', '--into', 'other']);
    expect([unknown.code, unknown.stderr]).toEqual([1, 'failover: restore-dump: no dump dump-20000101T000000Z in the catalogue (see failover backup list)\n']);
    const malformed = await cli(['restore-dump', 'yesterday', '--into', 'other']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^failover: restore-dump: invalid dump id "yesterday": expected dump-<YYYYMMDD>T<HHMMSS>Z .*\n$/);
    const badName = await cli(['restore-dump', first.id, '--into', 'Robert"; DROP']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/invalid database name/);
    expect(await databaseExists('other')).toBe(false);
    const { backup: _none, ...withoutBackups } = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    const plain = join(dir, 'no-backups.json');
    writeFileSync(plain, JSON.stringify(withoutBackups));
    for (const args of [['dump', '--now'], ['list'], ['restore-dump', first.id, '--into', 'other']]) {
      const result = await cli(args, plain);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^failover: .*the config has no backup section; add "backup": \{\}.*\n$/);
    }
  });

  it('refuses a dump while another backup holds the lock, naming the holder', async () => {
    const before = (await catalogue()).length;
    const held = await withBackupLock(agents.store.etcd, agents.store.keys, 'test:holder (full)', 10, async () => cli(['dump', '--now']));
    expect(held.ok).toBe(true);
    if (!held.ok) return;
    expect([held.value.code, held.value.stderr]).toEqual([1, 'failover: backup dump: another backup is running (held by test:holder (full)); try again when it has finished\n']);
    expect((await catalogue()).length).toBe(before);
    // Released after: the next one goes ahead.
    expect(await agents.store.etcd.get(agents.store.keys.backupLock).string()).toBeNull();
  });

  it('keeps backup.dumps.keep dumps: with keep 2, three dumps leave two files and two records', async () => {
    const keepTwo = writeConfig('keep-two.json', 2);
    const taken = [await dumpNow(keepTwo), await dumpNow(keepTwo), await dumpNow(keepTwo)];
    const dumps = (await catalogue()).filter((r) => r.kind === 'dump');
    expect(dumps.map((r) => r.id).sort()).toEqual(taken.slice(1).map((r) => r.id).sort());
    expect(readdirSync(join(cluster.backupDir!, 'dumps')).sort()).toEqual(taken.slice(1).map((r) => `${r.id}.dump`).sort());
    expect(existsSync(fileOf(first.id))).toBe(false);
  });

  it('takes a dump cancelled by a recovery conflict on a standby once more from another source', async () => {
    // replica-2 stopped: after replica-1's conflict the only other source is the primary.
    await docker.getContainer(cluster.node('replica-2').container).stop({ t: 5 });
    await seenDown('replica-2');
    // replica-1 cancels a query at once when replay needs its lock; the primary keeps taking exclusive locks.
    await cluster.query('replica-1', "ALTER SYSTEM SET max_standby_streaming_delay = '0'");
    await cluster.query('replica-1', 'SELECT pg_reload_conf()');
    await eventually(async () => (await cluster.query<{ v: string }>('replica-1', "SELECT current_setting('max_standby_streaming_delay') AS v"))[0]?.v === '0', 'the delay applied', 10_000);
    const locker = await appClient();
    let locking = true;
    const locks = (async () => {
      while (locking) await locker.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; COMMIT');
    })();
    let dump!: Awaited<ReturnType<typeof dumpNow>>;
    try {
      dump = await dumpNow();
    } finally {
      locking = false;
      await locks;
      await locker.end().catch(() => undefined);
    }
    expect(dump.attempts).toEqual([
      { id: expect.any(String), node: 'replica-1', role: 'replica', ok: false, error: expect.stringMatching(/^cancelled by a recovery conflict on the standby .*conflict with recovery/) },
      { id: dump.id, node: 'pgsql', role: 'primary', ok: true },
    ]);
    expect(dump).toMatchObject({ ok: true, node: 'pgsql', role: 'primary' });
    // Recorded, and kept: older good dumps exist (retention drops failures older than the oldest kept good dump).
    const failed = (await catalogue()).find((r) => r.id === dump.attempts[0]!.id);
    expect(failed).toMatchObject({ ok: false, node: 'replica-1', sizeBytes: 0 });
    expect(existsSync(fileOf(failed!.id))).toBe(false);
  });

  it('dumps the primary when no replica can serve', async () => {
    await docker.getContainer(cluster.node('replica-1').container).stop({ t: 5 });
    await seenDown('replica-1');
    const dump = await dumpNow();
    expect(dump).toMatchObject({ ok: true, node: 'pgsql', role: 'primary', source: { rule: 'backup-source-dump-primary-fallback' } });
    expect(sha256Of(fileOf(dump.id))).toBe(dump.sha256);
    const result = await cli(['restore-dump', dump.id, '--into', 'from_primary']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(await rowCounts('from_primary')).toEqual(TABLES);
  });
});
