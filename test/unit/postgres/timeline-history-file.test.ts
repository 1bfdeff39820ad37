import { describe, expect, it } from 'vitest';
import { historyFileName, timelineHistorySql } from '../../../src/postgres/timeline.js';

describe('a timeline history file name', () => {
  it('is the timeline in 8 upper-case hex digits, as PostgreSQL names it', () => {
    expect(historyFileName(2)).toBe('00000002.history');
    // to_hex() in SQL gives 0000001d: no such file on the server, and the rejoin rule took the node for diverged (the lab, timeline 29).
    expect(historyFileName(29)).toBe('0000001D.history');
    expect(historyFileName(0xabcdef12)).toBe('ABCDEF12.history');
  });

  it('is what the query reads', () => {
    expect(timelineHistorySql(29).values).toEqual([29, '0000001D.history']);
  });
});
