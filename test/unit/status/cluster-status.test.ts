import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../../src/cli/cluster-status.js';
import { completeStep, replanTo, rollBack, startOperation } from '../../../src/core/journal.js';
import { summarise } from '../../../src/status/cluster-status.js';

const NOW = 1_800_000_000_000;
const published = { name: 'pgsql', host: 'pgsql', port: 5432, epoch: 1, timeline: 1, since: 'x' };
const base = { cluster: 'main', published, leader: 'agent-1', paused: null, views: [], now: NOW, syncSettings: { mode: 'off' as const, number: 1, durability: 'required' as const } };

describe('status explains itself', () => {
  it('gives the verdict with its rule and why, or null before any leader decided', () => {
    const status = summarise({ ...base, verdict: { at: NOW, leader: 'agent-1', verdict: 'failed', rule: 'failed-no-safe-candidate', why: "primary pgsql's container is exited", notes: ['failover refused: every replica is behind'] } });
    expect(status.verdict).toEqual({ kind: 'failed', rule: 'failed-no-safe-candidate', why: "primary pgsql's container is exited" });
    expect(renderStatus(status)).toContain("verdict failed (rule failed-no-safe-candidate): primary pgsql's container is exited\nnote: failover refused: every replica is behind");
    expect(summarise({ ...base, verdict: null }).verdict).toBeNull();
  });

  it('shows the operation in progress: its step, how long it has been there, and its last error', () => {
    let journal = startOperation({ id: 'op', kind: 'failover', from: 'pgsql', to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'agent-1', now: NOW - 5000 });
    const done = completeStep(journal, 'fence-old', NOW - 1500);
    if (!done.ok) throw new Error(done.reason);
    journal = { ...done.journal, error: 'catch-up: timed out' };
    const status = summarise({ ...base, verdict: null, journal });
    expect(status.operation).toEqual({ id: 'op', kind: 'failover', from: 'pgsql', to: 'replica-1', epoch: 2, step: 'catch-up', stepMs: 1500, elapsedMs: 5000, error: 'catch-up: timed out', rollback: null, replans: [] });
    expect(renderStatus(status)).toContain('operation failover pgsql -> replica-1 (epoch 2) at step catch-up for 1.5 s, 5.0 s in all; last error: catch-up: timed out');
    expect(summarise({ ...base, verdict: null }).operation).toBeNull();
  });

  it('shows a re-planned target and a rollback under way, with why', () => {
    const start = startOperation({ id: 'op', kind: 'switchover', from: 'pgsql', to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'cli:x', now: NOW - 5000 });
    const replanned = replanTo(start, 'replica-2', 'the target replica-1 is down (container exited)', NOW - 4000);
    const undone = rollBack(replanned, 'the target replica-2 is down (container exited)', NOW - 1000);
    const status = summarise({ ...base, verdict: null, journal: undone });
    expect(status.operation).toMatchObject({ step: 'fence-target', rollback: 'the target replica-2 is down (container exited)', replans: [{ abandoned: 'replica-1', to: 'replica-2', why: 'the target replica-1 is down (container exited)' }] });
    expect(renderStatus(status)).toContain('  re-planned: replica-2 instead of replica-1 (the target replica-1 is down (container exited))\n  rolling back: the target replica-2 is down (container exited)');
  });

  it('lists the last events, one line each', () => {
    const events = [1, 2, 3].map((i) => ({ id: `e${i}`, at: `2026-11-29T09:00:0${i}.000Z`, kind: 'step' as const, rule: 'promote', by: 'agent-1', message: `event ${i}` }));
    const text = renderStatus(summarise({ ...base, verdict: null, events }));
    expect(text).toMatch(/recent events \(failover events for all\):\n {2}2026-11-29 09:00:01\.000 .*event 1.*\n {2}.*event 2.*\n {2}.*event 3/);
    expect(renderStatus(summarise({ ...base, verdict: null }))).not.toContain('recent events');
  });

  it('shows the synchronous set on one line, after the verdict and its notes', () => {
    const sync = { mode: 'quorum' as const, number: 1, standbys: ['replica-2', 'replica-1'], epoch: 1, durability: 'required' as const, degraded: false, pending: false, at: NOW };
    const status = summarise({ ...base, verdict: null, sync });
    expect(status.synchronous).toEqual({ mode: 'quorum', number: 1, durability: 'required', standbys: ['replica-1', 'replica-2'], degraded: false, pending: false, epoch: 1, promising: true, recorded: true });
    expect(renderStatus(status)).toContain('verdict - (no leader has decided yet)\nsynchronous: quorum ANY 1 of replica-1, replica-2 (required)\nNODE');
    expect(renderStatus(summarise({ ...base, verdict: null })).split('\n')).toContain('synchronous: off (config)');
  });
});
