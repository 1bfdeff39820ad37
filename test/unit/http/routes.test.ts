import { describe, expect, it } from 'vitest';
import type { EdgeHealthState } from '../../../src/status/agent-state.js';
import type { NodeConfig } from '../../../src/config/schema.js';
import type { NodeObservation } from '../../../src/core/types.js';
import type { AgentState } from '../../../src/http/agent-state.js';
import { healthReply, primaryReply, replicaReply, type Reply } from '../../../src/http/routes.js';
import { route } from '../../../src/http/server.js';
import { downObs, primaryObs, published, replicaObs, view, MiB } from '../core/fixtures.js';

const EDGES_OK: EdgeHealthState = { etcdOk: true, lastEtcdOkAt: 1_000_000, lastEtcdError: null, etcdErrors: 0, dockerErrors: 0 };

function state(nodes: NodeObservation[], options: Partial<AgentState> = {}): AgentState {
  return { agentId: 'agent-1', view: view('agent-1', nodes), isLeader: false, leaseHeld: true, edges: EDGES_OK, ...options };
}

const body = (reply: Reply) => JSON.parse(reply.body) as Record<string, unknown>;
const NODES = ['pgsql', 'replica-1', 'replica-2'].map((name, i) => ({ name, host: `h${i}`, port: 5432 + i }) as NodeConfig);
const healthy = [primaryObs(), replicaObs('replica-1'), replicaObs('replica-2')];
/** The config as the published fixture names it: pgsql at pgsql:5432. */
const CONFIG = [{ name: 'pgsql', host: 'pgsql', port: 5432 }, { name: 'replica-1', host: 'pgsql-replica-1', port: 5432 }];

describe('GET /primary', () => {
  it.each([
    ['the published primary answers writable', healthy, 200, true],
    ['it answers but is in recovery', [replicaObs('pgsql'), replicaObs('replica-1')], 503, false],
    ['its probe fails', [downObs('pgsql'), replicaObs('replica-1')], 503, false],
    ['this agent has no observation of it', [replicaObs('replica-1')], 503, false],
  ])('%s: %i, writable %s', (_what, nodes, status, writable) => {
    const reply = primaryReply(published({ epoch: 4, timeline: 3 }), state(nodes), CONFIG);
    expect(reply.status).toBe(status);
    expect(body(reply)).toEqual({ name: 'pgsql', host: 'pgsql', port: 5432, epoch: 4, timeline: 3, since: '1970-01-01T00:00:00.000Z', writable });
  });

  it('nothing published: 503 with a reason', () => {
    const reply = primaryReply(null, state(healthy), CONFIG);
    expect(reply.status).toBe(503);
    expect(body(reply)).toEqual({ error: 'no primary is published' });
  });

  it.each([
    ['a host of its own for a node of the config', { host: 'elsewhere.example' }, 'publishes pgsql at elsewhere.example:5432, where the config has pgsql:5432'],
    ['another port', { port: 6543 }, 'publishes pgsql at pgsql:6543, where the config has pgsql:5432'],
    ['a node the config does not have', { name: 'stranger', host: 'stranger' }, 'names stranger, which is not a node of the config (pgsql, replica-1)'],
  ])('a record from etcd with %s: 503 naming the problem, never that host (issue 15)', (_what, record, problem) => {
    const reply = primaryReply(published(record), state(healthy), CONFIG);
    expect(reply.status).toBe(503);
    expect(body(reply)).toEqual({ error: `the published primary is not used: it ${problem}` });
  });

  it('never carries the internal lastLsn', () => {
    expect(body(primaryReply(published({ lastLsn: '123' }), state(healthy), CONFIG))).not.toHaveProperty('lastLsn');
  });
});

describe('GET /replica', () => {
  it('lists the reachable, streaming standbys with their lag: 200', () => {
    const nodes = [primaryObs('pgsql', { lsn: 5n * MiB }), replicaObs('replica-1', { lsn: 4n * MiB }), replicaObs('replica-2', { streaming: false })];
    nodes[1]!.sql = { ...nodes[1]!.sql, replayLagMs: 1500 } as NodeObservation['sql'];
    const reply = replicaReply(published(), state(nodes), NODES);
    expect(reply.status).toBe(200);
    expect(body(reply)).toEqual({
      replicas: [{ name: 'replica-1', host: 'h1', port: 5433, timeline: 1, lsn: '0/400000', lagBytes: Number(MiB), replayLagSeconds: 1.5, upstream: 'pgsql' }],
    });
  });

  it.each([
    ['no standby streams', [primaryObs(), replicaObs('replica-1', { streaming: false })]],
    ['the standbys are down', [primaryObs(), downObs('replica-1'), downObs('replica-2', { container: 'exited' })]],
    ['only a primary', [primaryObs()]],
  ])('%s: 503 with an empty list', (_what, nodes) => {
    const reply = replicaReply(published(), state(nodes), NODES);
    expect(reply.status).toBe(503);
    expect(body(reply)).toEqual({ replicas: [] });
  });

  it('without the published primary (etcd unreadable), replicas are still served, lag unknown', () => {
    const reply = replicaReply(null, state(healthy), NODES);
    expect(reply.status).toBe(200);
    expect((body(reply).replicas as Array<{ lagBytes: unknown }>).map((r) => r.lagBytes)).toEqual([null, null]);
  });
});

describe('GET /health', () => {
  it.each([
    ['lease held, last write ok', {}, 200, true],
    ['no fresh lease', { leaseHeld: false }, 503, false],
    ['last etcd write failed', { edges: { ...EDGES_OK, etcdOk: false, lastEtcdError: 'deadline exceeded', etcdErrors: 2 } }, 503, false],
  ] as const)('%s: %i', (_what, options, status, connected) => {
    const reply = healthReply(state(healthy, { isLeader: true, ...options }));
    expect(reply.status).toBe(status);
    expect(body(reply)).toMatchObject({ agent: 'agent-1', leader: true, etcd: { connected } });
  });
});

describe('routing', () => {
  const routes = {
    '/ok': () => ({ status: 200, contentType: 'text/plain', body: 'ok' }),
    '/boom': async (): Promise<Reply> => {
      throw new Error('boom');
    },
  };
  it.each([
    ['GET', '/ok', 200],
    ['HEAD', '/ok', 200],
    ['GET', '/ok?x=1', 200],
    ['GET', '/nope', 404],
    ['GET', '/ok/', 404],
    ['POST', '/ok', 405],
    ['DELETE', '/ok', 405],
    ['GET', '/boom', 500],
    ['GET', '/__proto__', 404],
  ])('%s %s: %i', async (method, url, status) => {
    expect((await route(routes, method, url)).status).toBe(status);
  });
});
