import { describe, expect, it } from 'vitest';
import { renderRules, rulesReport } from '../../../src/cli/commands/rules.js';
import { BACKUP_RULES } from '../../../src/core/backup-rules.js';
import { BACKUP_SOURCE_RULES } from '../../../src/core/backup-source.js';
import { REJOIN_RULES } from '../../../src/core/rejoin-method.js';
import { RULES, STANDING_RULES } from '../../../src/core/rules.js';
import { SYNC_RULES } from '../../../src/core/sync-plan.js';

describe('failover rules', () => {
  const report = rulesReport();

  it('--json keeps its keys (standing, rules, steps) and adds sync: the synchronous set rows in order', () => {
    expect(Object.keys(report)).toEqual(['standing', 'rules', 'steps', 'sync', 'rejoin', 'backup', 'backupSource']);
    expect(report.rules.map((r) => r.id)).toEqual(RULES.map((r) => r.id));
    expect(report.standing.map((r) => r.id)).toEqual(STANDING_RULES.map((r) => r.id));
    expect(report.sync.length).toBe(SYNC_RULES.length);
    expect(report.sync.length).toBeGreaterThan(0);
    report.sync.forEach((row, i) => {
      expect(row).toEqual({ order: i + 1, id: SYNC_RULES[i]!.id, when: SYNC_RULES[i]!.when, then: SYNC_RULES[i]!.then });
    });
    // Plain JSON: the rows' matchers and planners stay in the code.
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('the text lists the synchronous set rows under their own heading, between the decision rules and the steps', () => {
    const text = renderRules(report);
    const heading = text.indexOf('Synchronous set (zero-loss mode');
    expect(heading).toBeGreaterThan(text.indexOf('Rules, first match wins:'));
    expect(heading).toBeLessThan(text.indexOf('Operation steps, in order:'));
    const section = text.slice(heading, text.indexOf('Operation steps, in order:'));
    for (const [i, row] of SYNC_RULES.entries()) {
      expect(section).toContain(`${String(i + 1).padStart(2)}. ${row.id}\n      when: ${row.when}\n      then: ${row.then}`);
    }
  });

  it('--json adds rejoin: the rejoin rows in order, with why', () => {
    expect(report.rejoin.length).toBe(REJOIN_RULES.length);
    expect(report.rejoin.length).toBeGreaterThan(0);
    report.rejoin.forEach((row, i) => {
      const rule = REJOIN_RULES[i]!;
      expect(row).toEqual({ order: i + 1, id: rule.id, when: rule.when, then: rule.then, why: rule.why });
    });
    expect(JSON.parse(JSON.stringify(report.rejoin))).toEqual(report.rejoin);
  });

  it('the text lists the rejoin rows under their own heading, after the synchronous set and before the steps', () => {
    const text = renderRules(report);
    const heading = text.indexOf('Rejoin (a node that does not follow the published primary');
    expect(heading).toBeGreaterThan(text.indexOf('Synchronous set (zero-loss mode'));
    expect(heading).toBeLessThan(text.indexOf('Operation steps, in order:'));
    const section = text.slice(heading, text.indexOf('Operation steps, in order:'));
    for (const [i, row] of REJOIN_RULES.entries()) {
      expect(section).toContain(`${String(i + 1).padStart(2)}. ${row.id}\n      when: ${row.when}\n      then: ${row.then}\n      why:  ${row.why}`);
    }
    // The synchronous section ends where the rejoin rows begin: no rejoin row is listed there.
    const sync = text.slice(text.indexOf('Synchronous set (zero-loss mode'), heading);
    for (const row of REJOIN_RULES) expect(sync).not.toContain(row.id);
  });

  it('--json and the text add the backup schedule and the backup source rows (issue 16), in order, before the steps', () => {
    expect(report.backup.map((r) => r.id)).toEqual(BACKUP_RULES.map((r) => r.id));
    expect(report.backupSource.map((r) => r.id)).toEqual(BACKUP_SOURCE_RULES.map((r) => r.id));
    report.backup.forEach((row, i) => expect(row).toEqual({ order: i + 1, id: BACKUP_RULES[i]!.id, when: BACKUP_RULES[i]!.when, then: BACKUP_RULES[i]!.action, why: BACKUP_RULES[i]!.why }));
    const text = renderRules(report);
    const heading = text.indexOf('Backup schedule');
    expect(heading).toBeGreaterThan(text.indexOf('Rejoin (a node that does not follow'));
    expect(heading).toBeLessThan(text.indexOf('Operation steps, in order:'));
    for (const row of [...BACKUP_RULES, ...BACKUP_SOURCE_RULES]) expect(text.slice(heading)).toContain(`. ${row.id}\n      when: ${row.when}\n      then: ${row.action}\n      why:  ${row.why}`);
  });
});
