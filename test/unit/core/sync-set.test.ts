import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claims, formatStandbyNames, parseStandbyNames, sameSet, sortedNames, type StandbySet } from '../../../src/core/sync-set.js';
import { syncRecord } from './fixtures.js';

const ALL = ['replica-1', 'replica-2', 'replica-3'];

describe('formatStandbyNames', () => {
  it.each<{ rule: string; set: StandbySet | null; text: string }>([
    { rule: 'no set is the empty setting', set: null, text: '' },
    { rule: 'a set without standbys is the empty setting too', set: { number: 1, standbys: [] }, text: '' },
    { rule: 'names are quoted (a dash is not allowed in a bare name) and sorted', set: { number: 1, standbys: ['replica-2', 'replica-1'] }, text: 'ANY 1 ("replica-1", "replica-2")' },
    { rule: 'the number is written as given', set: { number: 2, standbys: ['a', 'b', 'c'] }, text: 'ANY 2 ("a", "b", "c")' },
    { rule: 'a double quote in a name is doubled', set: { number: 1, standbys: ['we"ird'] }, text: 'ANY 1 ("we""ird")' },
    { rule: 'upper case survives (quoted names keep their case)', set: { number: 1, standbys: ['Replica'] }, text: 'ANY 1 ("Replica")' },
  ])('$rule', ({ set, text }) => {
    expect(formatStandbyNames(set)).toBe(text);
  });
});

describe('parseStandbyNames', () => {
  it.each<{ rule: string; text: string; parsed: StandbySet | null | 'unparsable' }>([
    { rule: 'empty is asynchronous', text: '', parsed: null },
    { rule: 'blanks only are asynchronous', text: '  \t ', parsed: null },
    { rule: 'what pg-failover writes', text: 'ANY 1 ("replica-1", "replica-2")', parsed: { number: 1, standbys: ['replica-1', 'replica-2'] } },
    { rule: 'ANY in lower case, no blank before the list', text: 'any 2(replica_1,replica_2 , replica_3)', parsed: { number: 2, standbys: ['replica_1', 'replica_2', 'replica_3'] } },
    { rule: 'FIRST k reads as its members and k', text: 'FIRST 2 (b, a, c)', parsed: { number: 2, standbys: ['a', 'b', 'c'] } },
    { rule: 'k (list) without a method is FIRST k', text: '2 (s1, s2)', parsed: { number: 2, standbys: ['s1', 's2'] } },
    { rule: 'a bare list is FIRST 1', text: 's2, s1', parsed: { number: 1, standbys: ['s1', 's2'] } },
    { rule: 'a single bare name', text: 's1', parsed: { number: 1, standbys: ['s1'] } },
    { rule: 'bare names fold to lower case, quoted ones keep theirs', text: 'ANY 1 (Alpha, "Beta")', parsed: { number: 1, standbys: ['Beta', 'alpha'] } },
    { rule: 'a doubled quote inside quotes is one quote', text: 'ANY 1 ("we""ird", x)', parsed: { number: 1, standbys: ['we"ird', 'x'] } },
    { rule: 'a comma or a parenthesis inside quotes is part of the name', text: 'ANY 1 ("a,b", "c(d)")', parsed: { number: 1, standbys: ['a,b', 'c(d)'] } },
    { rule: 'a name given twice counts once', text: 'ANY 1 (s1, "s1", s1)', parsed: { number: 1, standbys: ['s1'] } },
    { rule: '* is every standby', text: '*', parsed: { number: 1, standbys: ALL } },
    { rule: '* inside ANY k is every standby', text: 'ANY 2 (*)', parsed: { number: 2, standbys: ALL } },
    { rule: '* next to names is still every standby', text: 'FIRST 1 (replica-1, *)', parsed: { number: 1, standbys: ALL } },
    { rule: 'k of zero is refused', text: 'ANY 0 (s1)', parsed: 'unparsable' },
    { rule: 'an empty list is refused', text: 'ANY 1 ()', parsed: 'unparsable' },
    { rule: 'a method without a number is refused', text: 'ANY (s1, s2)', parsed: 'unparsable' },
    { rule: 'names without a comma between them are refused', text: 'ANY 1 (s1 s2)', parsed: 'unparsable' },
    { rule: 'two commas in a row are refused', text: 's1,, s2', parsed: 'unparsable' },
    { rule: 'an unclosed quote is refused', text: 'ANY 1 ("s1, s2)', parsed: 'unparsable' },
    { rule: 'an unclosed list is refused', text: 'ANY 1 (s1, s2', parsed: 'unparsable' },
    { rule: 'text after the list is refused', text: 'ANY 1 (s1) s2', parsed: 'unparsable' },
    { rule: 'an unknown method is refused', text: 'SOME 1 (s1)', parsed: 'unparsable' },
  ])('$rule: $text', ({ text, parsed }) => {
    expect(parseStandbyNames(text, ALL)).toEqual(parsed);
  });

  it('reads back every set it writes, whatever the names (dashes, quotes, blanks, case, commas)', () => {
    const name = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom('a', 'B', '-', '_', '"', ' ', ',', '(', ')', '1', 'é') }).filter((n) => n !== '*');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(name, { minLength: 1, maxLength: 5 }), (number, standbys) => {
        const parsed = parseStandbyNames(formatStandbyNames({ number, standbys }), ALL);
        expect(parsed).toEqual({ number, standbys: sortedNames([...new Set(standbys)]) });
      }),
      { numRuns: 500 },
    );
  });

  it('writes the same text for the same set in any order (every agent writes the same)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom(...ALL, 'Z', 'a-b'), { minLength: 1 }), (standbys) => {
        expect(formatStandbyNames({ number: 1, standbys: [...standbys].reverse() })).toBe(formatStandbyNames({ number: 1, standbys }));
        expect(sameSet({ number: 1, standbys }, { number: 1, standbys: [...standbys].reverse() })).toBe(true);
      }),
    );
  });
});

describe('sameSet', () => {
  it('tells sets apart by members and by number; null and no standbys are both asynchronous', () => {
    expect(sameSet({ number: 1, standbys: ['a'] }, { number: 2, standbys: ['a'] })).toBe(false);
    expect(sameSet({ number: 1, standbys: ['a'] }, { number: 1, standbys: ['a', 'b'] })).toBe(false);
    expect(sameSet(null, { number: 1, standbys: [] })).toBe(true);
    expect(sameSet(null, { number: 1, standbys: ['a'] })).toBe(false);
  });
});

describe('claims', () => {
  it.each([
    { rule: 'a quorum record, neither pending nor degraded, promises', record: syncRecord(['replica-1']), promises: true },
    { rule: 'no record promises nothing', record: null, promises: false },
    { rule: 'a pending record does not promise yet', record: syncRecord(['replica-1'], 1, { pending: true }), promises: false },
    { rule: 'a degraded record no longer promises', record: syncRecord(['replica-1'], 1, { degraded: true, durability: 'preferred' }), promises: false },
    { rule: 'mode off promises nothing', record: syncRecord(['replica-1'], 1, { mode: 'off' }), promises: false },
  ])('$rule', ({ record, promises }) => {
    expect(claims(record)).toBe(promises);
  });
});
