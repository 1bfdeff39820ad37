import { describe, expect, it } from 'vitest';
import { EMPTY_STREAMING_WATCH, watchStreaming, type StreamingWatch } from '../../../src/core/streaming-watch.js';
import type { NodeObservation } from '../../../src/core/types.js';
import { NOW, PRIMARY, PRIMARY_HOSTS, downObs, observations, primaryObs, replicaObs } from './fixtures.js';

const cutOff = replicaObs('replica-1', { streaming: false });

describe('watchStreaming', () => {
  it.each<{ rule: string; previous: StreamingWatch; primary: string | null; nodes: NodeObservation[]; since: Record<string, number> }>([
    { rule: 'a streaming replica is not watched', previous: EMPTY_STREAMING_WATCH, primary: PRIMARY, nodes: [primaryObs(), replicaObs('replica-1')], since: {} },
    { rule: 'a replica that stops streaming is watched from its probe time', previous: EMPTY_STREAMING_WATCH, primary: PRIMARY, nodes: [replicaObs('replica-1', { streaming: false, at: NOW - 300 })], since: { 'replica-1': NOW - 300 } },
    { rule: 'the first sighting is kept across ticks', previous: { primary: PRIMARY, notStreamingSince: { 'replica-1': NOW - 9_000 } }, primary: PRIMARY, nodes: [cutOff], since: { 'replica-1': NOW - 9_000 } },
    { rule: 'streaming again clears the watch', previous: { primary: PRIMARY, notStreamingSince: { 'replica-1': NOW - 9_000 } }, primary: PRIMARY, nodes: [replicaObs('replica-1')], since: {} },
    { rule: 'streaming from a host other than the primary is watched', previous: EMPTY_STREAMING_WATCH, primary: PRIMARY, nodes: [replicaObs('replica-1', { upstreamHost: 'pgsql-replica-2' })], since: { 'replica-1': NOW } },
    { rule: 'a node that goes down gets a fresh clock when it returns', previous: { primary: PRIMARY, notStreamingSince: { 'replica-1': NOW - 9_000 } }, primary: PRIMARY, nodes: [downObs('replica-1')], since: {} },
    { rule: 'a node that is not running is not watched', previous: EMPTY_STREAMING_WATCH, primary: PRIMARY, nodes: [replicaObs('replica-1', { streaming: false, container: 'paused' })], since: {} },
    { rule: 'a writable node is not watched (it is fenced, not rejoined)', previous: EMPTY_STREAMING_WATCH, primary: PRIMARY, nodes: [primaryObs('replica-1')], since: {} },
    { rule: 'the primary itself is not watched', previous: EMPTY_STREAMING_WATCH, primary: PRIMARY, nodes: [replicaObs(PRIMARY, { streaming: false })], since: {} },
    { rule: 'a new primary starts the watch afresh', previous: { primary: 'replica-2', notStreamingSince: { 'replica-1': NOW - 9_000 } }, primary: PRIMARY, nodes: [cutOff], since: { 'replica-1': NOW } },
    { rule: 'nothing published: nothing to watch', previous: EMPTY_STREAMING_WATCH, primary: null, nodes: [cutOff], since: {} },
  ])('$rule', ({ previous, primary, nodes, since }) => {
    const next = watchStreaming(previous, { now: NOW, primary, primaryHosts: PRIMARY_HOSTS, observations: observations(...nodes) });
    expect(next).toEqual({ primary, notStreamingSince: since });
  });

  it('does not mutate the previous watch', () => {
    const previous: StreamingWatch = { primary: PRIMARY, notStreamingSince: { 'replica-1': NOW - 9_000 } };
    watchStreaming(previous, { now: NOW, primary: PRIMARY, primaryHosts: PRIMARY_HOSTS, observations: observations(replicaObs('replica-1')) });
    expect(previous.notStreamingSince).toEqual({ 'replica-1': NOW - 9_000 });
  });
});
