import type { Command } from 'commander';
import { STEP_TABLE } from '../../core/journal.js';
import { RULES, STANDING_RULES } from '../../core/rules.js';
import { printJson } from '../context.js';

/** The decision table the leader matches on every tick, and the steps of its operations: read from the code, not from etcd. */
export function registerRules(program: Command): void {
  program
    .command('rules')
    .description('the decision rules as a table: id, condition, action, why; and the steps of a failover and a switchover')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) => {
      const rules = RULES.map(({ id, when, then, why }, i) => ({ order: i + 1, id, when, then, why }));
      const standing = STANDING_RULES.map(({ id, when, then, why }) => ({ id, when, then, why }));
      const steps = STEP_TABLE.map(({ step, kinds, comment }) => ({ step, kinds, comment }));
      if (options.json) {
        printJson({ standing, rules, steps });
        return;
      }
      const out: string[] = ['Standing rules (every tick of the leader, alongside the matching row):'];
      for (const r of standing) out.push(`  ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`, `      why:  ${r.why}`);
      out.push('', 'Rules, first match wins:');
      for (const r of rules) out.push(`  ${String(r.order).padStart(2)}. ${r.id}`, `      when: ${r.when}`, `      then: ${r.then}`, `      why:  ${r.why}`);
      out.push('', 'Operation steps, in order:');
      for (const s of steps) out.push(`  ${s.step.padEnd(17)} ${s.kinds.join(', ').padEnd(21)} ${s.comment}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
