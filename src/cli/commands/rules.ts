import type { Command } from 'commander';
import { STEP_TABLE } from '../../core/journal.js';
import { BACKUP_RULES } from '../../core/backup-rules.js';
import { BACKUP_SOURCE_RULES } from '../../core/backup-source.js';
import { REJOIN_RULES } from '../../core/rejoin-method.js';
import { RULES, STANDING_RULES } from '../../core/rules.js';
import { SYNC_RULES } from '../../core/sync-plan.js';
import { printJson } from '../context.js';

/** The decision tables, read from the code, not from etcd: what `failover rules` prints. */
export function rulesReport() {
  return {
    standing: STANDING_RULES.map(({ id, when, then, why }) => ({ id, when, then, why })),
    rules: RULES.map(({ id, when, then, why }, i) => ({ order: i + 1, id, when, then, why })),
    steps: STEP_TABLE.map(({ step, kinds, comment }) => ({ step, kinds, comment })),
    /** How the leader keeps the synchronous set (zero-loss mode), one step per tick, first match wins. */
    sync: SYNC_RULES.map(({ id, when, then }, i) => ({ order: i + 1, id, when, then })),
    /** How a node that does not follow the published primary comes back (follow, rewind, clone), first match wins. */
    rejoin: REJOIN_RULES.map(({ id, when, then, why }, i) => ({ order: i + 1, id, when, then, why })),
    /** The leader's backup schedule (issue 16), first match wins; then where a backup is taken from. */
    backup: BACKUP_RULES.map(({ id, when, action, why }, i) => ({ order: i + 1, id, when, then: action, why })),
    backupSource: BACKUP_SOURCE_RULES.map(({ id, when, action, why }, i) => ({ order: i + 1, id, when, then: action, why })),
  };
}

export function renderRules(report: ReturnType<typeof rulesReport>): string {
  const out: string[] = ['Standing rules (every tick of the leader, alongside the matching row):'];
  for (const r of report.standing) out.push(`  ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`, `      why:  ${r.why}`);
  out.push('', 'Rules, first match wins:');
  for (const r of report.rules) out.push(`  ${String(r.order).padStart(2)}. ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`, `      why:  ${r.why}`);
  out.push('', 'Synchronous set (zero-loss mode; the leader takes one step per tick), first match wins:');
  for (const r of report.sync) out.push(`  ${String(r.order).padStart(2)}. ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`);
  out.push('', 'Rejoin (a node that does not follow the published primary: the cheapest correct path), first match wins:');
  for (const r of report.rejoin) out.push(`  ${String(r.order).padStart(2)}. ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`, `      why:  ${r.why}`);
  out.push('', 'Backup schedule (the leader asks every few seconds; one backup at a time), first match wins:');
  for (const r of report.backup) out.push(`  ${String(r.order).padStart(2)}. ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`, `      why:  ${r.why}`);
  out.push('', 'Backup source, first match wins:');
  for (const r of report.backupSource) out.push(`  ${String(r.order).padStart(2)}. ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`, `      why:  ${r.why}`);
  out.push('', 'Operation steps, in order:');
  for (const s of report.steps) out.push(`  ${s.step.padEnd(17)} ${s.kinds.join(', ').padEnd(21)} ${s.comment}`);
  return out.join('\n');
}

export function registerRules(program: Command): void {
  program
    .command('rules')
    .description('the decision rules as a table: id, condition, action, why; the synchronous set\'s rows; the rejoin rows; and the steps of a failover and a switchover')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) => {
      const report = rulesReport();
      if (options.json) printJson(report);
      else process.stdout.write(`${renderRules(report)}\n`);
    });
}
