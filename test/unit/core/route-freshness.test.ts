import { describe, expect, it } from 'vitest';
import { staleRouteReason, type RouteWriteInput } from '../../../src/core/route-freshness.js';

const route = { name: 'pgsql', epoch: 4 };

describe('staleRouteReason (a PgBouncer route checked right before it is written)', () => {
  it.each<[string, RouteWriteInput, RegExp | null]>([
    ['the route is for the epoch etcd publishes, and the agent leads: written', { route, current: { name: 'pgsql', epoch: 4 }, leads: true }, null],
    ['another agent published a newer promotion meanwhile', { route, current: { name: 'replica-1', epoch: 5 }, leads: true }, /etcd publishes epoch 5 \(replica-1\); the route is for epoch 4 \(pgsql\)/],
    ['the epoch moved on with the same node (promoted back)', { route, current: { name: 'pgsql', epoch: 6 }, leads: true }, /etcd publishes epoch 6/],
    ['etcd holds an older epoch than the route (etcd restored from a backup)', { route, current: { name: 'pgsql', epoch: 3 }, leads: true }, /etcd publishes epoch 3/],
    ['the agent lost its leadership, even with the epoch unchanged', { route, current: { name: 'pgsql', epoch: 4 }, leads: false }, /no longer leads/],
    ['etcd could not be read: nothing proves the route current', { route, current: 'unreadable', leads: true }, /could not be read from etcd/],
    ['no primary is published', { route, current: null, leads: true }, /publishes no primary/],
  ])('%s', (_case, input, expected) => {
    const reason = staleRouteReason(input);
    if (expected === null) expect(reason).toBeNull();
    else expect(reason).toMatch(expected);
  });
});
