import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import type { ClusterStatus } from '../../src/status/cluster-status.js';
import { startAgents, type RunningAgents } from '../support/agents.js';
import { failoverCli, writeCliConfig } from '../support/cli.js';
import { allStreamFrom, docker, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { parsePrometheusText, valueOf } from '../support/prometheus.js';

// Every agent's HTTP server, against real agents, etcd, PostgreSQL and the real CLI (dist/).

const ROLES = ['primary', 'replica', 'down', 'unknown'] as const;

interface Got {
  status: number;
  contentType: string | null;
  text: string;
}

/** Set once the agents run: where each serves HTTP. */
let addressOf: (id: string) => { host: string; port: number } | null = () => null;

async function get(agent: Agent, path: string, method = 'GET'): Promise<Got> {
  const address = addressOf(agent.id);
  if (address === null) throw new Error(`${agent.id} serves no HTTP`);
  const response = await fetch(`http://127.0.0.1:${address.port}${path}`, { method, signal: AbortSignal.timeout(5000) });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}

/** The JSON's shape: key order and value types, recursively; arrays by their first element. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return [value.length > 0 ? shape(value[0]) : 'empty'];
  if (value !== null && typeof value === 'object') return Object.entries(value).map(([k, v]) => [k, shape(v)]);
  return value === null ? 'null' : typeof value;
}

/** Status without what moves between two reads of a healthy cluster (view ages, WAL positions). */
function stable(status: ClusterStatus): unknown {
  return {
    ...status,
    agents: status.agents.map((a) => a.id),
    nodes: status.nodes.map(({ lsn: _lsn, lagBytes: _lag, ...rest }) => rest),
  };
}

/** Mismatches between an agent's role gauges and the roles `failover status --json` shows; empty when they agree. */
function roleMismatches(metricsText: string, status: ClusterStatus): string[] {
  const families = parsePrometheusText(metricsText);
  const problems: string[] = [];
  const gaugeNodes = new Set(families.get('pgf_node_role')?.samples.map((s) => s.labels.node));
  if ([...gaugeNodes].sort().join() !== status.nodes.map((n) => n.name).join()) problems.push(`nodes ${[...gaugeNodes].join()} vs ${status.nodes.map((n) => n.name).join()}`);
  for (const node of status.nodes) {
    for (const role of ROLES) {
      const value = valueOf(families, 'pgf_node_role', { node: node.name, role });
      if (value !== (node.role === role ? 1 : 0)) problems.push(`${node.name} ${role}=${value} (status: ${node.role})`);
    }
    if (valueOf(families, 'pgf_node_reachable', { node: node.name }) !== (node.reachable ? 1 : 0)) problems.push(`${node.name} reachable`);
  }
  return problems;
}

describe('HTTP on every agent', () => {
  let cluster: TestCluster;
  let running: RunningAgents;
  let configFile: string;

  const status = async (): Promise<ClusterStatus> => {
    const result = await failoverCli(['status', '--json', '--config', configFile], {}, 30_000);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as ClusterStatus;
  };

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
    running = await startAgents(cluster, { http: true });
    addressOf = (id) => running.httpAddress(id);
    ({ file: configFile } = writeCliConfig(cluster));
    const c = cluster;
    await eventually(() => allStreamFrom(c, 'pgsql'), 'both replicas streaming', 30_000);
    // Every agent has published a view in which both replicas stream.
    await eventually(async () => {
      const views = await running.store.views();
      return views.length === 3 && views.every((v) => Object.values(v.nodes).every((o) => o.sql.ok && (!o.sql.inRecovery || o.sql.streaming)));
    }, 'three agents seeing a healthy cluster', 30_000);
    // The leader records the synchronous set (mode off here) on its first ticks: wait for it, so
    // that no test reads status on both sides of that write.
    await eventually(() => running.store.sync(), 'the synchronous set recorded (mode off)', 30_000);
  });
  afterAll(async () => {
    await running?.stop();
    await cluster?.stop();
  });

  it('GET /health: 200 on every agent, JSON naming the agent, exactly one of them the leader', async () => {
    const leader = await eventually(() => running.leaderId().then((id) => id ?? undefined), 'a leader');
    const bodies = await Promise.all(
      running.agents.map(async (agent) => {
        const reply = await get(agent, '/health');
        expect(reply.status, `${agent.id}: ${reply.text}`).toBe(200);
        expect(reply.contentType).toBe('application/json; charset=utf-8');
        return JSON.parse(reply.text) as { agent: string; leader: boolean; etcd: { connected: boolean; leaseHeld: boolean; error: string | null } };
      }),
    );
    expect(bodies.map((b) => b.agent)).toEqual(['agent-1', 'agent-2', 'agent-3']);
    expect(bodies.every((b) => b.etcd.connected && b.etcd.leaseHeld && b.etcd.error === null)).toBe(true);
    expect(bodies.filter((b) => b.leader).map((b) => b.agent)).toEqual([leader]);
  });

  it('GET /primary: 200 with the published primary, writable, on every agent', async () => {
    const published = (await running.store.published())!;
    for (const agent of running.agents) {
      const reply = await get(agent, '/primary');
      expect(reply.status, reply.text).toBe(200);
      expect(JSON.parse(reply.text)).toEqual({
        name: 'pgsql',
        host: '127.0.0.1',
        port: cluster.node('pgsql').port,
        epoch: published.epoch,
        timeline: published.timeline,
        since: published.since,
        writable: true,
      });
    }
  });

  it('GET /replica: 200 with both streaming replicas', async () => {
    // A replica that has received WAL but replayed no commit since it started has no replay lag yet
    // (null, "not known"): wait for a reply in which both have one.
    const reply = await eventually(async () => {
      const r = await get(running.agents[0]!, '/replica');
      const known = r.status === 200 && (JSON.parse(r.text) as { replicas: Array<{ replayLagSeconds: number | null }> }).replicas.every((x) => x.replayLagSeconds !== null);
      return known ? r : undefined;
    }, 'both replicas with a known replay lag on /replica', 15_000, 100);
    expect(reply.status, reply.text).toBe(200);
    const body = JSON.parse(reply.text) as { replicas: Array<{ name: string; port: number; upstream: string; lagBytes: number | null; replayLagSeconds: number | null }> };
    expect(body.replicas.map((r) => [r.name, r.port, r.upstream])).toEqual([
      ['replica-1', cluster.node('replica-1').port, cluster.node('pgsql').container],
      ['replica-2', cluster.node('replica-2').port, cluster.node('pgsql').container],
    ]);
    for (const r of body.replicas) {
      expect(r.lagBytes).toBeGreaterThanOrEqual(0);
      expect(r.replayLagSeconds).toBeGreaterThanOrEqual(0);
    }
  });

  it('GET /cluster: what `failover status --json` prints, in shape and in content', async () => {
    const [fromCli, reply] = await Promise.all([status(), get(running.agents[1]!, '/cluster')]);
    expect(reply.status, reply.text).toBe(200);
    const served = JSON.parse(reply.text) as ClusterStatus;
    expect(shape(served)).toEqual(shape(fromCli));
    expect(stable(served)).toEqual(stable(fromCli));
    expect(served.nodes.map((n) => n.role)).toEqual(['primary', 'replica', 'replica']);
    expect(served.synchronous).toEqual({ mode: 'off', number: 1, durability: 'required', standbys: [], degraded: false, pending: false, epoch: served.epoch, promising: false, recorded: true });
    // The agent prints through the CLI's serialiser (jsonText): two-space indent, final newline.
    expect(reply.text).toBe(`${JSON.stringify(served, null, 2)}\n`);
  });

  it('GET /metrics: Prometheus text whose role gauges match `failover status --json`, on every agent', async () => {
    const checked = await eventually(
      async () => {
        const [fromCli, ...scrapes] = await Promise.all([status(), ...running.agents.map((a) => get(a, '/metrics'))]);
        const problems = scrapes.flatMap((s, i) => roleMismatches(s.text, fromCli).map((p) => `${running.agents[i]!.id}: ${p}`));
        if (problems.length > 0) throw new Error(problems.join('; '));
        return { fromCli, scrapes };
      },
      'role gauges matching status',
      15_000,
      500,
    );
    const { fromCli, scrapes } = checked;
    expect(fromCli.nodes.map((n) => n.role)).toEqual(['primary', 'replica', 'replica']);
    const leaders: string[] = [];
    scrapes.forEach((scrape, i) => {
      expect(scrape.status).toBe(200);
      expect(scrape.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
      const families = parsePrometheusText(scrape.text);
      expect(valueOf(families, 'pgf_epoch')).toBe(fromCli.epoch);
      expect(valueOf(families, 'pgf_published_primary', { node: 'pgsql' })).toBe(1);
      expect(valueOf(families, 'pgf_etcd_up')).toBe(1);
      expect(valueOf(families, 'pgf_node_lag_bytes', { node: 'pgsql' })).toBe(0);
      expect(valueOf(families, 'pgf_node_wal_lsn_bytes', { node: 'pgsql' })).toBeGreaterThan(0);
      expect(valueOf(families, 'pgf_node_replay_lag_seconds', { node: 'replica-1' })).toBeGreaterThanOrEqual(0);
      expect(valueOf(families, 'pgf_node_streaming', { node: 'replica-2' })).toBe(1);
      expect(valueOf(families, 'pgf_promotions_total', { kind: 'failover' })).toBe(0);
      expect(valueOf(families, 'pgf_promotions_total', { kind: 'switchover' })).toBe(0);
      expect(valueOf(families, 'pgf_etcd_errors_total')).toBe(0);
      expect(valueOf(families, 'pgf_synchronous_mode')).toBe(0);
      expect(valueOf(families, 'pgf_synchronous_promising')).toBe(0);
      if (valueOf(families, 'pgf_is_leader') === 1) leaders.push(running.agents[i]!.id);
    });
    expect(leaders).toEqual([fromCli.leader]);
  });

  it('unknown paths are 404, other methods 405', async () => {
    const agent = running.agents[0]!;
    expect((await get(agent, '/nope')).status).toBe(404);
    expect((await get(agent, '/primary', 'POST')).status).toBe(405);
  });

  it('a stopped replica: /replica drops it, and the role gauges still match status (replica-2 down)', async () => {
    await docker.getContainer(cluster.node('replica-2').container).stop({ t: 5 });
    const fromCli = await eventually(
      async () => {
        const s = await status();
        return s.nodes.find((n) => n.name === 'replica-2')?.role === 'down' ? s : undefined;
      },
      'status showing replica-2 down',
      20_000,
      250,
    );
    await eventually(
      async () => {
        const problems = roleMismatches((await get(running.agents[2]!, '/metrics')).text, fromCli);
        if (problems.length > 0) throw new Error(problems.join('; '));
        return true;
      },
      'agent-3 role gauges matching status',
      10_000,
      250,
    );
    // agent-1's own view catches up on its own probe cycle: wait for it rather than read it once.
    await eventually(
      async () => {
        const reply = await get(running.agents[0]!, '/replica');
        const names = (JSON.parse(reply.text) as { replicas: Array<{ name: string }> }).replicas.map((r) => r.name);
        return reply.status === 200 && names.length === 1 && names[0] === 'replica-1';
      },
      "agent-1's /replica listing replica-1 alone",
      10_000,
      250,
    );
  });

  it('an agent stopped the way the agent command stops it (server, then agent) closes its port', async () => {
    const port = running.httpAddress('agent-3')!.port;
    await running.stopAgent('agent-3');
    await expect(fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  });
});
