import { describe, expect, it } from 'vitest';
import type { ContainerState } from '../../../src/core/types.js';
import { answerOfExecError, answerOfLastEvent, answerOfPsql, answerOfState, changes, lastSeen, observability, OBSERVATION_BOUND_MS, seenWhole } from '../../../src/drill/observation.js';
import type { NodeAnswer, Sample } from '../../../src/drill/split-brain.js';

const NODES = ['pgsql', 'replica-1', 'replica-2'];

/** One sample per node and moment, as the monitor records them: [at, node, answer]. */
function samples(rows: Array<[number, string, NodeAnswer]>): Sample[] {
  return rows.map(([at, node, answer]) => ({ at, answers: { [node]: answer } }));
}

/** Every node answering `answer` every `everyMs` from `from` to `to`. */
function steady(from: number, to: number, everyMs: number, answer: (node: string) => NodeAnswer): Array<[number, string, NodeAnswer]> {
  const rows: Array<[number, string, NodeAnswer]> = [];
  for (let at = from; at <= to; at += everyMs) for (const node of NODES) rows.push([at, node, answer(node)]);
  return rows;
}

describe('what the Docker API says about a node', () => {
  it.each<[ContainerState, NodeAnswer | null]>([
    ['running', null], // only the server inside can say
    ['paused', 'frozen'],
    ['exited', 'down'],
    ['dead', 'down'],
    ['missing', 'down'],
    ['restarting', 'down'],
    ['unknown', 'unknown'],
  ])('a container %s: %s', (state, answer) => {
    expect(answerOfState(state)).toBe(answer);
  });

  it.each<[string | undefined, NodeAnswer]>([
    ['die', 'down'],
    ['stop', 'down'],
    ['destroy', 'down'],
    ['pause', 'frozen'],
    ['kill', 'unknown'], // a signal was sent: the process may still run
    ['oom', 'unknown'],
    ['start', 'unknown'], // running: only the server inside can say
    ['unpause', 'unknown'],
    [undefined, 'unknown'], // no event seen, or the stream ended
  ])('while the engine holds its inspect, a last event %s: %s', (action, answer) => {
    expect(answerOfLastEvent(action)).toBe(answer);
  });

  it.each<[string, { exitCode: number; stdout: string; stderr: string }, NodeAnswer]>([
    ['a primary', { exitCode: 0, stdout: 'f\n', stderr: '' }, 'writable'],
    ['a standby', { exitCode: 0, stdout: 't\n', stderr: '' }, 'read-only'],
    ['no socket yet', { exitCode: 2, stdout: '', stderr: 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory' }, 'down'],
    ['starting up', { exitCode: 2, stdout: '', stderr: 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: FATAL:  the database system is starting up' }, 'down'],
    ['shutting down', { exitCode: 2, stdout: '', stderr: 'FATAL:  the database system is shutting down' }, 'down'],
    // A full server still takes writes from the clients it has: no proof of anything.
    ['too many clients', { exitCode: 2, stdout: '', stderr: 'FATAL:  sorry, too many clients already' }, 'unknown'],
    ['a statement timeout', { exitCode: 1, stdout: '', stderr: 'ERROR:  canceling statement due to statement timeout' }, 'unknown'],
    ['odd output', { exitCode: 0, stdout: '', stderr: '' }, 'unknown'],
    // Recorded: an exec created just before the container died.
    ['the container stopped under it', { exitCode: 126, stdout: 'OCI runtime exec failed: exec failed: cannot exec in a stopped container: unknown', stderr: '' }, 'down'],
    ['killed mid-query', { exitCode: 2, stdout: '', stderr: 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: server closed the connection unexpectedly' }, 'unknown'],
  ])('psql inside the container, %s', (_name, result, answer) => {
    expect(answerOfPsql(result)).toBe(answer);
  });

  /** A dockerode error as the engine's answer makes it: dockerode's own words, then the engine's. */
  const engineError = (statusCode: number, prefix: string, message: string) => Object.assign(new Error(`(HTTP code ${statusCode}) ${prefix} - ${message}`), { statusCode, json: { message } });

  it.each<[string, unknown, NodeAnswer]>([
    ['paused', engineError(409, 'container stopped/paused', 'Container 0a4a is paused, unpause the container before exec'), 'frozen'],
    // Recorded from the engine while a container was being killed: "paused" is dockerode's word, not the engine's.
    ['not running', engineError(409, 'container stopped/paused', 'Container 0a4a is not running'), 'down'],
    ['restarting', engineError(409, 'container stopped/paused', 'Container 0a4a is restarting, wait until the container is running'), 'down'],
    ['gone', engineError(404, 'no such container', 'No such container: pgsql'), 'down'],
    ['a 409 without the engine\'s message', Object.assign(new Error('(HTTP code 409) container stopped/paused'), { statusCode: 409 }), 'unknown'],
    ['past its deadline', new Error('no answer within 1000 ms'), 'unknown'],
    ['an engine error', engineError(500, 'server error', 'something broke'), 'unknown'],
  ])('a failed exec, %s', (_name, error, answer) => {
    expect(answerOfExecError(error)).toBe(answer);
  });
});

describe('whether the monitor saw every node throughout the round', () => {
  const window = { from: 0, to: 10_000 };

  it('every node answering every 50 ms (over SQL or Docker, writable, down or frozen alike) is observable', () => {
    const rows = steady(0, 10_000, 50, (node) => (node === 'pgsql' ? 'frozen' : 'read-only'));
    const seen = observability(samples(rows), NODES, window);
    expect(seen.observable).toBe(true);
    expect(seen.unobservedMs).toEqual({ pgsql: 50, 'replica-1': 50, 'replica-2': 50 });
  });

  it('a node without an answer for longer than the bound makes the round unobservable, and says for how long', () => {
    const rows = steady(0, 10_000, 50, (node) => 'read-only').map(([at, node, answer]): [number, string, NodeAnswer] =>
      node === 'pgsql' && at > 3000 && at < 6000 ? [at, node, 'unknown'] : [at, node, answer],
    );
    const seen = observability(samples(rows), NODES, window);
    expect(seen.observable).toBe(false);
    expect(seen.unobservedMs.pgsql).toBe(3000); // from its answer at 3000 to the next at 6000
    expect(seen.unobservedMs['replica-1']).toBe(50);
  });

  it('a stretch of no answer within the bound is still observable', () => {
    const rows = steady(0, 10_000, 50, () => 'writable').filter(([at, node]) => !(node === 'replica-2' && at > 2000 && at < 2000 + OBSERVATION_BOUND_MS));
    expect(observability(samples(rows), NODES, window).observable).toBe(true);
  });

  it('a monitor that stopped probing a node (no samples at all, not even unknown) leaves it unobserved', () => {
    const rows = steady(0, 10_000, 50, () => 'read-only').filter(([at, node]) => !(node === 'replica-1' && at > 4000));
    const seen = observability(samples(rows), NODES, window);
    expect(seen.observable).toBe(false);
    expect(seen.unobservedMs['replica-1']).toBe(6000); // to the end of the window
  });

  it('a watch that ends before the window does (stopped at the undo) is unobservable', () => {
    const rows = steady(0, 4000, 50, () => 'read-only');
    expect(observability(samples(rows), NODES, window)).toEqual({ observable: false, unobservedMs: { pgsql: 6000, 'replica-1': 6000, 'replica-2': 6000 } });
  });

  it('a node never answered is unobserved for the whole window', () => {
    const rows = steady(0, 10_000, 50, () => 'read-only').filter(([, node]) => node !== 'replica-2');
    expect(observability(samples(rows), NODES, window).unobservedMs['replica-2']).toBe(10_000);
  });

  it('each node\'s changes of answer, in ms from the fault', () => {
    const rows = samples([
      [990, 'pgsql', 'writable'],
      [1010, 'pgsql', 'writable'],
      [1030, 'pgsql', 'frozen'],
      [1050, 'replica-1', 'read-only'],
      [1060, 'pgsql', 'frozen'],
      [1400, 'pgsql', 'down'],
      [5000, 'pgsql', 'read-only'],
    ]);
    expect(changes(rows, 1000)).toEqual({
      pgsql: [[-10, 'writable'], [30, 'frozen'], [400, 'down'], [4000, 'read-only']],
      'replica-1': [[50, 'read-only']],
    });
  });

  it('each node\'s last answer; no answer keeps the one before', () => {
    const rows = samples([
      [0, 'pgsql', 'writable'],
      [10, 'pgsql', 'down'],
      [20, 'pgsql', 'unknown'],
      [30, 'replica-1', 'writable'],
    ]);
    expect(lastSeen(rows)).toEqual({ pgsql: 'down', 'replica-1': 'writable' });
  });
});

describe('when a round may stop watching', () => {
  const whole = steady(0, 100, 20, (node) => (node === 'replica-1' ? 'writable' : 'read-only'));

  it('after the old primary was seen a replica, the new primary writable, and the other replica', () => {
    expect(seenWhole(samples(whole), NODES, 'replica-1', 50)).toBe(true);
  });

  it('not while the old primary was only seen down since (restarted, not yet back)', () => {
    const rows = whole.map(([at, node, answer]): [number, string, NodeAnswer] => (node === 'pgsql' ? [at, node, 'down'] : [at, node, answer]));
    expect(seenWhole(samples(rows), NODES, 'replica-1', 50)).toBe(false);
  });

  it('not while it answers as a primary', () => {
    expect(seenWhole(samples([...whole, [101, 'pgsql', 'writable']]), NODES, 'replica-1', 50)).toBe(false);
  });

  it('not on answers from before the moment asked about', () => {
    expect(seenWhole(samples(whole), NODES, 'replica-1', 100)).toBe(false);
  });
});
