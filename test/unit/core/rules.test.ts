import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RULES, STANDING_RULES } from '../../../src/core/rules.js';

// The rule table itself: readable rows, unique ids, and a test row in decide.test.ts for every rule.
describe('the rule table', () => {
  const ids = [...STANDING_RULES.map((r) => r.id), ...RULES.map((r) => r.id)];

  it('gives every row a unique kebab-case id and a sentence for when, then and why', () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of [...STANDING_RULES, ...RULES]) {
      expect(rule.id).toMatch(/^[a-z]+(-[a-z]+)*$/);
      for (const text of [rule.when, rule.then, rule.why]) expect(text.length, rule.id).toBeGreaterThan(10);
    }
  });

  it('has a case in decide.test.ts for every row (a new row without its test fails here)', () => {
    const cases = readFileSync(new URL('./decide.test.ts', import.meta.url), 'utf8');
    const covered = new Set([...cases.matchAll(/by: '([a-z-]+)'/g)].map((m) => m[1]));
    expect(RULES.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
    // The standing fence rule is exercised by the rogue-primary cases; the others are named in their cases.
    expect(cases).toMatch(/fence\('replica-2'\)/);
    expect(STANDING_RULES.map((r) => r.id).filter((id) => id !== 'fence-stray-primary' && !cases.includes(`'${id}'`))).toEqual([]);
  });

  it('ends with a row that always matches, so every tick has a rule', () => {
    expect(RULES.at(-1)!.matches({} as never)).toBe(true);
  });
});
