// docs/monitoring against the code: every pgf_* name the Grafana dashboard and the alert
// rules use is a metric GET /metrics exports, the alert thresholds are the project's
// defaults, the dashboard imports anywhere (a datasource variable, no datasource uid),
// and, when promtool is installed, the rules and every dashboard query are valid PromQL
// and the rules' unit tests (alerts.test.yml) pass.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { configSchema } from '../../../src/config/schema.js';
import { DEFAULT_THRESHOLDS } from '../../../src/core/health.js';
import { completeStep, startOperation, type Journal } from '../../../src/core/journal.js';
import type { NodeObservation } from '../../../src/core/types.js';
import type { HistoryRecord } from '../../../src/dcs/store.js';
import type { AgentState } from '../../../src/http/agent-state.js';
import { renderMetrics } from '../../../src/http/metrics.js';
import { synchronousStatus } from '../../../src/status/synchronous-status.js';
import { parsePrometheusText } from '../../support/prometheus.js';
import { downObs, primaryObs, published, replicaObs, syncRecord, view, MiB } from '../core/fixtures.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/monitoring');
const dashboardText = readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8');
const alertsText = readFileSync(join(dir, 'alerts.yml'), 'utf8');

interface Rule {
  alert?: string;
  expr?: unknown;
  for?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}
const rules: Rule[] = (parse(alertsText) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const rule = (name: string): Rule => rules.find((r) => r.alert === name) ?? expect.fail(`alerts.yml has no alert ${name}`);

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr?: string; refId?: string }>;
}
const dashboard = JSON.parse(dashboardText) as {
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown; definition?: string }> };
  annotations: { list: Array<{ expr?: string }> };
};

/** Every metric name the whole text mentions: queries, and descriptions too (a renamed metric must not linger there either). */
function metricNames(text: string): Set<string> {
  return new Set(text.match(/\bpgf_[a-zA-Z0-9_]+/g) ?? []);
}

function unknownNames(text: string, exported: ReadonlySet<string>): string[] {
  return [...metricNames(text)].filter((name) => !exported.has(name)).sort();
}

/** The families one scrape of an agent that sees everything exports (an operation running, a promotion done, a synchronous set recorded). */
async function exportedFamilies(): Promise<Set<string>> {
  const replica = replicaObs('replica-1', { lsn: 7n * MiB, receiveLsn: 8n * MiB });
  replica.sql = { ...replica.sql, replayLagMs: 250 } as NodeObservation['sql'];
  const state: AgentState = {
    agentId: 'agent-1',
    view: view('agent-1', [primaryObs('pgsql', { lsn: 8n * MiB }), replica, downObs('replica-2', { container: 'exited' })]),
    isLeader: true,
    leaseHeld: true,
    edges: { etcdOk: true, lastEtcdOkAt: 1, lastEtcdError: null, etcdErrors: 1, dockerErrors: 1 },
  };
  const failover: HistoryRecord = { epoch: 2, from: 'replica-1', to: 'pgsql', kind: 'failover', reason: 'test', at: '2024-01-02T00:00:00.000Z', timeline: 2, timings: { total: 900 }, leader: 'agent-1' };
  const begun = startOperation({ id: 'op', kind: 'switchover', from: 'pgsql', to: 'replica-1', epoch: 3, reason: 'test', requestedBy: 'cli', now: 1_000 });
  const journal = (completeStep(begun, 'stop-old', 2_000) as { ok: true; journal: Journal }).journal;
  const synchronous = synchronousStatus(syncRecord(['replica-1']), { mode: 'quorum', number: 1, durability: 'required' });
  const text = await renderMetrics({ state, cluster: { published: published({ epoch: 2 }), history: [failover], journal, synchronous } });
  return new Set(parsePrometheusText(text).keys());
}

/** Every PromQL expression of the dashboard: panel targets, annotations, and the selectors of its label_values() variables. */
function dashboardQueries(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const panel of dashboard.panels) for (const t of panel.targets ?? []) out.push({ where: `panel "${panel.title}" ${t.refId}`, expr: t.expr ?? '' });
  dashboard.annotations.list.forEach((a, i) => a.expr !== undefined && out.push({ where: `annotation ${i}`, expr: a.expr }));
  for (const v of dashboard.templating.list) {
    const selector = /^label_values\((.+),\s*\w+\)$/.exec(v.definition ?? '')?.[1];
    if (v.type === 'query') out.push({ where: `variable ${v.name}`, expr: selector ?? `(no label_values() selector in ${JSON.stringify(v.definition)})` });
  }
  return out;
}

describe('docs/monitoring names only metrics that /metrics exports', () => {
  it('every pgf_* name in the dashboard and the alert rules is an exported metric family', async () => {
    const exported = await exportedFamilies();
    expect(unknownNames(dashboardText, exported), 'grafana-dashboard.json').toEqual([]);
    expect(unknownNames(alertsText, exported), 'alerts.yml').toEqual([]);
    // The check can fail: a misspelt name is caught, and the files do name metrics.
    expect(unknownNames('max by (node) (pgf_node_rol{role="primary"}) + pgf_epoch', exported)).toEqual(['pgf_node_rol']);
    expect(metricNames(dashboardText).size).toBeGreaterThanOrEqual(15);
    expect(metricNames(alertsText).size).toBeGreaterThanOrEqual(10);
  });

  it('the dashboard has panels for roles, lag in bytes and seconds, epoch, leader, promotions, etcd and Docker errors, the synchronous set', () => {
    const used = metricNames(dashboardQueries().map((q) => q.expr).join('\n'));
    for (const name of ['pgf_node_role', 'pgf_node_lag_bytes', 'pgf_node_replay_lag_seconds', 'pgf_epoch', 'pgf_is_leader', 'pgf_promotions_total', 'pgf_etcd_errors_total', 'pgf_docker_errors_total', 'pgf_synchronous_mode', 'pgf_synchronous_promising', 'pgf_synchronous_degraded', 'pgf_synchronous_standby']) {
      expect(used.has(name), name).toBe(true);
    }
  });
});

describe('grafana-dashboard.json imports into any Grafana', () => {
  it('has a Prometheus datasource variable, and every datasource reference uses it (no hard-coded uid)', () => {
    expect(dashboard.templating.list.find((v) => v.type === 'datasource')).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const refs: unknown[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) (key === 'datasource' ? refs.push(inner) : walk(inner));
      }
    };
    walk(dashboard);
    expect(refs.length).toBeGreaterThan(dashboard.panels.length);
    for (const ref of refs) {
      // Grafana's own built-in annotation source is the one reference that is not Prometheus.
      if ((ref as { type?: string }).type === 'grafana') continue;
      expect(ref).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('panels: unique ids, inside the 24-column grid, each query with an expression and its own refId', () => {
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      if (panel.type === 'row') continue;
      const targets = panel.targets ?? [];
      expect(targets.length, panel.title).toBeGreaterThan(0);
      expect(new Set(targets.map((t) => t.refId)).size, panel.title).toBe(targets.length);
      for (const t of targets) expect(t.expr, `${panel.title} ${t.refId}`).toMatch(/pgf_/);
    }
  });
});

describe('alerts.yml', () => {
  it('every rule is an alert with for:, a severity, and a summary and a description', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^Pgf[A-Za-z]+$/);
      expect(typeof r.expr, r.alert).toBe('string');
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(String(r.annotations?.summary ?? ''), r.alert).not.toBe('');
      expect(String(r.annotations?.description ?? ''), r.alert).not.toBe('');
    }
  });

  it('covers the primary, the leader, replica lag, a stuck operation, promotions, etcd and Docker errors, zero-loss mode', () => {
    for (const name of ['PgfPrimaryUnreachable', 'PgfNoLeader', 'PgfReplicaLagWarning', 'PgfReplicaLagCritical', 'PgfReplicaLagBytes', 'PgfOperationStuck', 'PgfFailoverInLastHour', 'PgfEtcdErrorsRising', 'PgfDockerErrorsRising', 'PgfSynchronousDegraded', 'PgfSynchronousNotPromising']) {
      expect(rule(name).alert).toBe(name);
    }
  });

  it("lag thresholds are the project's defaults: failover health's 30 s and 60 s, and readMaxLagBytes = maxLagOnFailover", () => {
    const defaults = configSchema.parse({ nodes: [{ name: 'n', container: 'n', host: 'n' }], endpoints: {} });
    // alerts.yml speaks of one byte threshold for both settings.
    expect(defaults.endpoints?.readMaxLagBytes).toBe(defaults.maxLagOnFailover);
    expect(rule('PgfReplicaLagWarning').expr).toMatch(new RegExp(`\\(pgf_node_replay_lag_seconds\\) > ${DEFAULT_THRESHOLDS.warnSeconds}$`));
    expect(rule('PgfReplicaLagCritical').expr).toMatch(new RegExp(`\\(pgf_node_replay_lag_seconds\\) > ${DEFAULT_THRESHOLDS.alertSeconds}$`));
    expect(rule('PgfReplicaLagBytes').expr).toMatch(new RegExp(`\\(pgf_node_lag_bytes\\) > ${defaults.maxLagOnFailover}$`));
  });
});

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const NO_PROMTOOL = 'promtool is not installed, so the rules and dashboard queries are not checked with it (Debian: apt-get install -y --no-install-recommends prometheus)';
// A skipped test's name is not printed by every reporter: say it where it is seen.
if (!promtool) console.warn(`SKIPPED in test/unit/docs/monitoring.test.ts: ${NO_PROMTOOL}`);

function runPromtool(args: string[], cwd = dir): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe.skipIf(!promtool)(promtool ? 'promtool' : `promtool (SKIPPED: ${NO_PROMTOOL})`, () => {
  it('alerts.yml passes promtool check rules', () => {
    const { status, output } = runPromtool(['check', 'rules', 'alerts.yml']);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status, output).toBe(0);
  });

  it('the rules behave as alerts.test.yml says (promtool test rules)', () => {
    const { status, output } = runPromtool(['test', 'rules', 'alerts.test.yml']);
    expect(status, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });

  it("every dashboard query is valid PromQL (as recording rules, with Grafana's variables filled in)", () => {
    const queries = dashboardQueries();
    const fill = (expr: string) => expr.replaceAll('$job', 'pg-failover').replaceAll('$node', '.*').replaceAll('$__rate_interval', '1m');
    const tmp = mkdtempSync(join(tmpdir(), 'pgf-dashboard-'));
    try {
      const file = join(tmp, 'dashboard-queries.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard_query_${i}`, expr: fill(q.expr) })) }] }));
      const { status, output } = runPromtool(['check', 'rules', file], tmp);
      expect(status, `${output}\n${queries.map((q, i) => `dashboard_query_${i}: ${q.where}`).join('\n')}`).toBe(0);
      expect(output).toContain(`SUCCESS: ${queries.length} rules found`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
