import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEtcd } from '../../src/dcs/client.js';
import { keysFor, type Keys } from '../../src/dcs/keys.js';
import { engineFor } from '../../src/docker/engine.js';
import { readFileFrom } from '../../src/docker/read-file.js';
import { listDatabases, PgBouncerAdmin } from '../../src/pgbouncer/admin.js';
import { docker, PGBOUNCER_ADMIN_PASSWORD, startCluster, type TestCluster } from '../support/cluster.js';
import { publishedOtherThan, startAgents, verdictWithNote, type RunningAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';

// Issue 15, items 2 and 7: values written straight into etcd by someone who reaches it are
// input like any other. Each crafted value below changes nothing in the cluster (no fence,
// no new route, no hook told a foreign host, no tick that fails) and is logged once.

// Appends the PGF_* variables a role-change hook receives, one JSON line per run.
const RECORD = `
  const fs = require('node:fs');
  const pgf = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PGF_')));
  fs.appendFileSync(process.argv[1] + '/records.jsonl', JSON.stringify(pgf) + '\\n');`;

const FOREIGN_HOST = '203.0.113.66';

describe('crafted etcd values', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let etcd: Etcd3;
  let keys: Keys;
  let hookDir: string;

  const hookRecords = (): Array<Record<string, string>> => {
    const file = join(hookDir, 'records.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>) : [];
  };

  /** How many times the agents logged `key` as an ignored etcd value (all agents: only the leader reads them). */
  const timesLogged = (key: string): number =>
    ['agent-1', 'agent-2', 'agent-3']
      .flatMap((id) => agents.logs(id).split('\n'))
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg?: string; key?: string })
      .filter((entry) => entry.key === key && /etcd value ignored/.test(entry.msg ?? '')).length;

  /** The leader's own view, as published in etcd: it is refreshed once per tick. */
  const leaderViewAt = async (): Promise<number | null> => {
    const leader = await agents.leaderId();
    const text = leader === null ? null : await etcd.get(keys.agent(leader)).string();
    return text === null ? null : (JSON.parse(text) as { at: number }).at;
  };

  /** Waits until the leader has ticked for another `ms` (its view moved on), however busy the machine is. */
  const leaderTicksFor = async (ms: number): Promise<void> => {
    const from = await eventually(leaderViewAt, "the leader's view");
    await eventually(async () => ((await leaderViewAt()) ?? 0) >= from + ms, `the leader ticking for ${ms} ms more`, 20_000);
  };

  const writeRoute = async (): Promise<{ file: string; hosts: string[] }> => {
    const write = agents.config.endpoints!.write!;
    const file = (await readFileFrom(engineFor({}), write.container, write.databasesFile)).toString('utf8');
    const admin = new PgBouncerAdmin({ host: '127.0.0.1', port: write.port, user: agents.config.endpoints!.admin.user, password: PGBOUNCER_ADMIN_PASSWORD });
    const listed = await admin.session(listDatabases, 3000);
    return { file, hosts: [...new Set(listed.map((d) => `${d.host}:${d.port}`))].sort() };
  };

  const primaryWritable = async (): Promise<boolean> => {
    const state = (await docker.getContainer(cluster.node('pgsql').container).inspect()).State;
    if (!state.Running) return false;
    const rows = await cluster.query<{ ok: boolean }>('pgsql', 'SELECT NOT pg_is_in_recovery() AS ok');
    await cluster.query('pgsql', 'CREATE TABLE IF NOT EXISTS crafted_probe (at timestamptz); INSERT INTO crafted_probe VALUES (now())');
    return rows[0]?.ok === true;
  };

  /** Until the leader's verdict is a plain healthy one again, without a hold. */
  const healthyAgain = () =>
    eventually(async () => {
      const verdict = await agents.store.verdict().catch(() => null);
      return verdict?.verdict === 'healthy' && !verdict.notes.some((n) => /unreadable/.test(n));
    }, 'a healthy verdict without a hold', 20_000);

  beforeAll(async () => {
    hookDir = mkdtempSync(join(tmpdir(), 'pgf-crafted-'));
    cluster = await startCluster({ replicas: 2, pgbouncer: true });
    agents = await startAgents(cluster, {
      captureLogs: 'info',
      config: { hooks: { onRoleChange: [{ name: 'record', command: [process.execPath, '-e', RECORD, hookDir] }] } },
    });
    etcd = createEtcd(agents.config.etcd);
    keys = keysFor(agents.config.etcd.prefix, agents.config.cluster);
    // The write endpoint routes to the first primary before anything is crafted.
    await eventually(async () => (await writeRoute().catch(() => null))?.file.includes(cluster.node('pgsql').container), 'the write endpoint routing to pgsql', 30_000);
    await healthyAgain();
  });
  // Whatever a test crafted is undone even when it fails, so that the next test starts from a sound cluster.
  let restore: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const undo of restore.reverse()) await undo().catch(() => undefined);
    restore = [];
  });
  /** Writes a crafted value, and puts back what was there after the test. */
  const craft = async (key: string, value: string): Promise<void> => {
    const was = await etcd.get(key).string();
    restore.push(async () => {
      if (was === null) await etcd.delete().key(key);
      else await etcd.put(key).value(was);
    });
    await etcd.put(key).value(value);
  };

  afterAll(async () => {
    etcd?.close();
    await agents?.stop();
    await cluster?.stop();
  });

  it('a primary whose epoch holds a newline and a [databases] line: the PgBouncer file and its hosts stay as they were', async () => {
    const original = (await etcd.get(keys.primary).string())!;
    const before = await writeRoute();
    const crafted = { ...JSON.parse(original), epoch: `${JSON.parse(original).epoch}\n[databases]\nx = host=${FOREIGN_HOST}` };
    await craft(keys.primary, JSON.stringify(crafted));
    // Long enough for the leader to act on it, had it believed it (a fence or a resume takes one tick).
    await leaderTicksFor(2500);
    expect(await writeRoute()).toEqual(before);
    expect(before.file).not.toContain(FOREIGN_HOST);
    expect(await primaryWritable()).toBe(true);
    // Status names the key and the problem through the leader's verdict.
    await verdictWithNote(agents, (n) => n.includes(keys.primary) && /unreadable/.test(n), 'the leader holding on the unreadable primary');
    expect(timesLogged(keys.primary)).toBe(1);
    await etcd.put(keys.primary).value(original);
    await healthyAgain();
  });

  it('a journal naming an unknown node, with a foreign host: nothing is fenced, no hook runs, the journal is left as written', async () => {
    const published = JSON.parse((await etcd.get(keys.primary).string())!) as { epoch: number };
    const now = Date.now();
    const journal = JSON.stringify({
      id: 'crafted-journal',
      kind: 'failover',
      from: 'pgsql',
      to: 'intruder',
      host: FOREIGN_HOST,
      port: 5432,
      epoch: published.epoch + 1,
      reason: 'crafted',
      requestedBy: 'someone',
      startedAt: now,
      updatedAt: now,
      step: 'catch-up',
      completed: [{ step: 'fence-old', at: now, ms: 1 }],
    });
    await craft(keys.journal, journal);
    // Long enough for the leader to act on it, had it believed it (a fence or a resume takes one tick).
    await leaderTicksFor(2500);
    expect(await etcd.get(keys.journal).string()).toBe(journal);
    expect(await primaryWritable()).toBe(true);
    expect(hookRecords()).toEqual([]);
    // Status names the key and the problem through the leader's verdict.
    await verdictWithNote(agents, (n) => n.includes(keys.journal) && /intruder/.test(n), 'the leader holding on the journal naming an unknown node');
    expect(timesLogged(keys.journal)).toBe(1);
    await etcd.delete().key(keys.journal);
    await healthyAgain();
  });

  it('a journal resumed past its publication while the primary record names a foreign host: no hook is told that host', async () => {
    const original = (await etcd.get(keys.primary).string())!;
    const published = JSON.parse(original) as { epoch: number };
    const now = Date.now();
    // What a finished failover to pgsql leaves half way: published, re-pointing the replicas.
    const journal = JSON.stringify({
      id: 'crafted-resume',
      kind: 'failover',
      from: 'replica-1',
      to: 'pgsql',
      epoch: published.epoch,
      reason: 'crafted',
      requestedBy: 'someone',
      startedAt: now,
      updatedAt: now,
      step: 'repoint-replicas',
      completed: ['fence-old', 'catch-up', 'promote', 'verify-write', 'publish'].map((step) => ({ step, at: now, ms: 1 })),
    });
    await craft(keys.primary, JSON.stringify({ ...JSON.parse(original), host: FOREIGN_HOST }));
    await craft(keys.journal, journal);
    // Long enough for the leader to act on it, had it believed it (a fence or a resume takes one tick).
    await leaderTicksFor(2500);
    expect(hookRecords()).toEqual([]);
    expect(await etcd.get(keys.journal).string()).toBe(journal);
    expect(await primaryWritable()).toBe(true);
    expect((await writeRoute()).file).not.toContain(FOREIGN_HOST);
    // Status names the key and the problem through the leader's verdict.
    await verdictWithNote(agents, (n) => n.includes(keys.primary) && n.includes(FOREIGN_HOST), 'the leader holding on the primary at a foreign host');
    // Logged once more: the same key with another problem.
    expect(timesLogged(keys.primary)).toBe(2);
    await etcd.delete().key(keys.journal);
    await etcd.put(keys.primary).value(original);
    await healthyAgain();
  });

  it('an unknown node named as the primary: the real primary is not fenced and stays writable', async () => {
    const original = (await etcd.get(keys.primary).string())!;
    await craft(keys.primary, JSON.stringify({ ...JSON.parse(original), name: 'intruder', host: 'intruder' }));
    // Long enough for the leader to act on it, had it believed it (a fence or a resume takes one tick).
    await leaderTicksFor(2500);
    expect(await primaryWritable()).toBe(true);
    expect((await writeRoute()).file).toContain(cluster.node('pgsql').container);
    // Status names the key and the problem through the leader's verdict.
    await verdictWithNote(agents, (n) => n.includes(keys.primary) && /intruder/.test(n), 'the leader holding on the unknown primary');
    expect(timesLogged(keys.primary)).toBe(3);
    await etcd.put(keys.primary).value(original);
    await healthyAgain();
    expect(await primaryWritable()).toBe(true);
  });

  it('a non-JSON value and a malformed view under agents/: the leader keeps ticking, and a failover still runs', async () => {
    const garbage = `${keys.agentsPrefix}intruder`;
    const malformed = `${keys.agentsPrefix}malformed`;
    await craft(garbage, '{"agentId": "intruder", nodes: not json');
    // A view whose LSN is not a number: arithmetic on it would throw in the core.
    await craft(malformed, JSON.stringify({ agentId: 'malformed', at: Date.now(), nodes: { 'replica-1': { name: 'replica-1', container: 'running', sql: { ok: true, inRecovery: true, timeline: 1, lsn: 'zero', receiveLsn: 'zero', replayLsn: 'zero', streaming: true, upstreamHost: 'x', receiptAgeMs: 0 }, at: Date.now(), lastSqlOkAt: Date.now() } } }));
    await eventually(async () => timesLogged(garbage) > 0 && timesLogged(malformed) > 0, 'both values logged', 10_000);
    const verdictAt = (await agents.store.verdict())!.at;
    await leaderTicksFor(2000);
    // The verdict is published again at least every 5 s while it does not change.
    await eventually(async () => ((await agents.store.verdict())?.at ?? 0) > verdictAt, 'the verdict refreshed', 15_000);
    await docker.getContainer(cluster.node('pgsql').container).kill();
    const promoted = await publishedOtherThan(agents, 'pgsql');
    // The hook hears of the failover, with the host of the config (the tests' config: 127.0.0.1), once.
    const records = await eventually(async () => (hookRecords().length > 0 ? hookRecords() : null), 'the role-change hook', 20_000);
    expect(records).toMatchObject([{ PGF_NEW_PRIMARY: promoted.name, PGF_NEW_PRIMARY_HOST: '127.0.0.1', PGF_NEW_PRIMARY_PORT: String(cluster.node(promoted.name).port) }]);
    expect(timesLogged(garbage)).toBe(1);
    expect(timesLogged(malformed)).toBe(1);
  });
});
