import { describe, expect, it } from 'vitest';
import { eventId, eventsToPrune, formatEvent, parseDuration, timeOfEventId } from '../../../src/core/event.js';

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;

describe('event ids', () => {
  it('sort by time as strings, and give the time back', () => {
    const ids = [eventId(NOW, 'b'), eventId(999, 'a'), eventId(NOW - 1, 'c')];
    expect([...ids].sort().map(timeOfEventId)).toEqual([999, NOW - 1, NOW]);
    expect(timeOfEventId('not-an-id')).toBeNull();
  });
});

describe('eventsToPrune', () => {
  const ids = (...ages: number[]) => ages.map((age, i) => eventId(NOW - age, String(i)));

  it.each([
    { rule: 'nothing while under both limits', ids: ids(3, 2, 1), maxCount: 5, expect: 0 },
    { rule: 'the oldest beyond the count', ids: ids(5, 4, 3, 2, 1), maxCount: 3, expect: 2 },
    { rule: 'anything older than the age limit, however few', ids: ids(8 * DAY, 1), maxCount: 100, expect: 1 },
    { rule: 'an id that is not ours is removed rather than kept forever', ids: ['junk', ...ids(1)], maxCount: 100, expect: 1 },
  ])('$rule', ({ ids: all, maxCount, expect: count }) => {
    const doomed = eventsToPrune(all, NOW, { maxCount, maxAgeMs: 7 * DAY });
    expect(doomed).toHaveLength(count);
    const kept = all.filter((id) => !doomed.includes(id));
    // What is kept is always the newest.
    if (kept.length > 0 && doomed.length > 0 && all.every((id) => timeOfEventId(id) !== null)) expect([...doomed].sort().at(-1)! < [...kept].sort()[0]!).toBe(true);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['7d', 7 * DAY],
  ])('%s is %i ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '5', 'ten minutes', '-1h', '1.5h', '3w'])('%j is refused', (text) => expect(parseDuration(text)).toBeNull());
});

describe('formatEvent', () => {
  it('puts time, kind, rule and what happened on one line, with epoch, elapsed time and author', () => {
    const line = formatEvent({ id: 'x', at: '2026-11-29T09:00:00.123Z', kind: 'step', rule: 'promote', by: 'agent-2', message: 'failover pgsql -> replica-1: replica-1 promoted', epoch: 2, elapsedMs: 41 });
    expect(line).toBe('2026-11-29 09:00:00.123  step            promote                  failover pgsql -> replica-1: replica-1 promoted  epoch 2  (41 ms)  [agent-2]');
    expect(line).not.toContain('\n');
  });
});
