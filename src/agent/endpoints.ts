import { writeFile, rename } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { PgBouncerConfig } from '../config/schema.js';
import { replicationHostOf } from '../config/schema.js';
import { staleRouteReason, type PublishedRef } from '../core/route-freshness.js';
import { databasesIni, hostsField, readRoute, writeRoute, type RouteTarget } from '../core/routing.js';
import type { AgentView, Published } from '../core/types.js';
import { engineFor, putFiles } from '../docker/engine.js';
import { describeError } from '../postgres/connection.js';
import { identifier, listDatabases, PgBouncerAdmin, type PoolerDatabase } from '../pgbouncer/admin.js';
import type { ClusterContext } from './cluster-context.js';

const VERIFY_EVERY_MS = 3000;
const DATABASES_REFRESH_MS = 10_000;
/** How long a switchover lets running transactions finish before it drops them. */
const PAUSE_TIMEOUT_MS = 5000;

type Kind = 'write' | 'read';

interface Pooler {
  kind: Kind;
  config: PgBouncerConfig;
  admin: PgBouncerAdmin;
  /** The databases file last written, so an unchanged route costs no I/O. */
  applied: string | null;
  verifiedAt: number;
}

/**
 * Points the PgBouncer endpoints at the cluster, on the leader only: the write
 * endpoint at the published primary (held while a promotion is under way, so clients
 * wait instead of failing), the read endpoint at the healthy replicas. Endpoint
 * trouble is logged and never holds back or fails an operation.
 */
export class EndpointSwitcher {
  private readonly poolers: Pooler[];
  private databases: { names: string[]; at: number } = { names: [], at: 0 };
  /** Every change goes through one queue: a late tick must not undo a newer promotion's switch. */
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  /** The newest epoch applied or seen in etcd: a route for an older one is never written. */
  private epoch = 0;

  private constructor(
    private readonly cluster: ClusterContext,
    private readonly leads: () => boolean,
  ) {
    const endpoints = cluster.config.endpoints!;
    const password = cluster.poolerPassword ?? '';
    // The nodes' TLS settings: the same CA signs PgBouncer's certificate, which names config.host.
    const tls = cluster.tls;
    const admin = (config: PgBouncerConfig) => new PgBouncerAdmin({ host: config.host, port: config.port, user: endpoints.admin.user, password, tls });
    this.poolers = (['write', 'read'] as const)
      .filter((kind) => endpoints[kind] !== undefined)
      .map((kind) => ({ kind, config: endpoints[kind]!, admin: admin(endpoints[kind]!), applied: null, verifiedAt: 0 }));
  }

  /** `leads` is the agent's own leadership clock: a deposed leader's queued change is dropped at write time. */
  static of(cluster: ClusterContext, leads: () => boolean = () => true): EndpointSwitcher | null {
    const endpoints = cluster.config.endpoints;
    return endpoints && (endpoints.write || endpoints.read) ? new EndpointSwitcher(cluster, leads) : null;
  }

  /** Resolves once every change queued so far is done. */
  idle(): Promise<void> {
    return this.queue;
  }

  /**
   * Before the old primary is fenced or stopped. A failover drops the connections to
   * the lost primary (KILL: clients reconnect and wait); a switchover lets running
   * transactions finish and holds new ones (PAUSE), dropping them only after
   * PAUSE_TIMEOUT_MS. Either way new queries wait in PgBouncer until followPrimary.
   */
  async holdWrites(kind: 'failover' | 'switchover'): Promise<void> {
    const pooler = this.pooler('write');
    if (!pooler) return;
    await this.serially(() => this.hold(pooler, kind));
  }

  private async hold(pooler: Pooler, kind: 'failover' | 'switchover'): Promise<void> {
    const log = this.cluster.log.child({ endpoint: 'write' });
    const began = Date.now();
    const verb = kind === 'switchover' ? 'PAUSE' : 'KILL';
    let names: string[] = [];
    try {
      await pooler.admin.session(
        async (query) => {
          names = (await listDatabases(query)).filter((d) => !d.paused).map((d) => identifier(d.name));
          for (const name of names) await query(`${verb} ${name}`);
        },
        kind === 'switchover' ? PAUSE_TIMEOUT_MS : 2000,
      );
      log.info({ ms: Date.now() - began, kind }, 'write endpoint held');
    } catch (error) {
      if (kind !== 'switchover' || names.length === 0) {
        log.warn({ error: describeError(error) }, 'could not hold the write endpoint');
        return;
      }
      log.warn({ error: describeError(error) }, 'transactions did not finish in time; dropping them');
      await pooler.admin.command(names.map((n) => `KILL ${n}`)).catch((e) => log.warn({ error: describeError(e) }, 'could not hold the write endpoint'));
    }
  }

  /** Right after a promotion is published: the write endpoint to the new primary, then released. */
  async followPrimary(published: Published, view: AgentView | null): Promise<void> {
    const write = this.pooler('write');
    const read = this.pooler('read');
    // Writes wait on this; the read endpoint follows in the background.
    const writeDone = write ? this.serially(() => this.apply(write, published, view, { force: true })) : Promise.resolve();
    if (read) void this.serially(() => this.apply(read, published, view, { force: true }));
    await writeDone;
  }

  /**
   * Every leader tick: corrects what drifted (a restarted PgBouncer, a replica that fell
   * behind or came back, a leader change half way) and releases a write endpoint left
   * held once no promotion is under way. Runs in the background; overlapping calls are skipped.
   */
  reconcile(published: Published | null, view: AgentView, holding: boolean): void {
    if (this.queued > 0 || !published) return;
    // While a promotion is between its first step and `publish`, the write endpoint is left
    // alone: the published primary is the one being fenced or stopped.
    const poolers = this.poolers.filter((p) => !(holding && p.kind === 'write'));
    void this.serially(() => Promise.all(poolers.map((p) => this.apply(p, published, view, { force: false }))));
  }

  private serially(task: () => Promise<unknown>): Promise<void> {
    this.queued += 1;
    const run = this.queue.then(task).then(
      () => undefined,
      () => undefined,
    );
    this.queue = run.finally(() => {
      this.queued -= 1;
    });
    return this.queue;
  }

  private pooler(kind: Kind): Pooler | undefined {
    return this.poolers.find((p) => p.kind === kind);
  }

  private async apply(pooler: Pooler, published: Published, view: AgentView | null, options: { force: boolean }): Promise<void> {
    const log = this.cluster.log.child({ endpoint: pooler.kind });
    if (published.epoch < this.epoch) return;
    this.epoch = published.epoch;
    try {
      const targets = this.targetsFor(pooler.kind, published, view);
      const names = await this.databaseNames(published);
      const text = databasesIni(names, targets.list, `written by the pg-failover leader for epoch ${published.epoch}`);
      const now = Date.now();
      if (!options.force && text === pooler.applied && now - pooler.verifiedAt < VERIFY_EVERY_MS) return;
      const field = hostsField(targets.list);
      const check: { stale: string | null } = { stale: null };
      await pooler.admin.session(async (query) => {
        const listed = await listDatabases(query);
        pooler.verifiedAt = now;
        const current = field !== null && names.every((n) => listed.some((d) => d.name === n && d.host === field.host && d.port === field.port));
        const held = listed.filter((d) => d.paused).map((d) => d.name);
        // Only the write endpoint is ever held; releasing it is what every caller wants.
        const releases = pooler.kind === 'write' && held.length > 0;
        if (current && !releases) return;
        // Checked as late as possible, right before the first change: the route was computed
        // from a snapshot that may be seconds old by now (see core/route-freshness.ts).
        check.stale = await this.staleReason(published);
        if (check.stale !== null) return;
        if (!current) {
          await writeDatabasesFile(pooler.config, text);
          await query('RELOAD');
          for (const command of this.dropOldConnections(pooler.kind, listed, field)) {
            await query(`${command.verb} ${identifier(command.database)}`);
            if (command.verb === 'KILL') held.push(command.database);
          }
          log.warn({ targets: targets.list.map((t) => t.node), excluded: targets.excluded, epoch: published.epoch }, `${pooler.kind} endpoint re-pointed`);
        }
        if (pooler.kind !== 'write') return;
        for (const database of held) {
          await query(`RESUME ${identifier(database)}`).catch((error: unknown) => {
            if (!/is not paused/.test(describeError(error))) throw error;
          });
        }
      });
      if (check.stale !== null) {
        pooler.applied = null;
        log.warn({ epoch: published.epoch }, `${pooler.kind} endpoint left alone: ${check.stale}`);
        return;
      }
      pooler.applied = text;
    } catch (error) {
      pooler.applied = null;
      log.warn({ error: describeError(error) }, `could not update the ${pooler.kind} endpoint`);
    }
  }

  /** Why a route for `published` must not be written now; null when it may. Reads etcd once. */
  private async staleReason(published: Published): Promise<string | null> {
    const leads = this.leads();
    let current: PublishedRef | null | 'unreadable' = 'unreadable';
    if (leads) {
      try {
        current = await this.cluster.store.published();
      } catch {
        current = 'unreadable';
      }
    }
    // A newer epoch seen here drops every older change still queued before it does any I/O.
    if (current !== null && current !== 'unreadable' && Number.isInteger(current.epoch)) this.epoch = Math.max(this.epoch, current.epoch);
    return staleRouteReason({ route: published, current, leads });
  }

  /**
   * Server connections to a host that left the route: the write endpoint drops them at
   * once (that host is fenced or stopped), the read endpoint closes them as they are released.
   */
  private dropOldConnections(kind: Kind, listed: PoolerDatabase[], field: { host: string; port: number } | null): Array<{ verb: 'KILL' | 'RECONNECT'; database: string }> {
    const moved = listed.filter((d) => d.host !== null && (field === null || d.host !== field.host || d.port !== field.port));
    if (kind === 'read') return moved.map((d) => ({ verb: 'RECONNECT', database: d.name }));
    return moved.filter((d) => !d.paused).map((d) => ({ verb: 'KILL', database: d.name }));
  }

  private targetsFor(kind: Kind, published: Published, view: AgentView | null): { list: RouteTarget[]; excluded: Array<{ node: string; reason: string }> } {
    const targets = Object.fromEntries(
      this.cluster.nodes.map((n): [string, RouteTarget] => [n.name, { node: n.name, host: replicationHostOf(n), port: n.replicationPort }]),
    );
    if (kind === 'write') {
      const target = writeRoute(published, targets);
      return { list: target ? [target] : [], excluded: [] };
    }
    const route = readRoute({
      published,
      observations: view?.nodes ?? {},
      targets,
      primaryHosts: this.cluster.hostsOf()[published.name] ?? [],
      maxLagBytes: BigInt(this.cluster.config.endpoints!.readMaxLagBytes),
    });
    return { list: route.targets, excluded: route.excluded };
  }

  /** The cluster's databases, read from the primary now and then; the last list when it cannot answer. */
  private async databaseNames(published: Published): Promise<string[]> {
    if (Date.now() - this.databases.at < DATABASES_REFRESH_MS && this.databases.names.length > 0) return this.databases.names;
    const node = this.cluster.node(published.name);
    try {
      if (!node) throw new Error(`node ${published.name} is not in the config`);
      const { rows } = await this.cluster.pool(node).query<{ datname: string }>('SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1');
      this.databases = { names: rows.map((r) => r.datname), at: Date.now() };
    } catch (error) {
      if (this.databases.names.length === 0) this.databases = { names: [this.cluster.config.database], at: 0 };
    }
    return this.databases.names;
  }
}

/** Into the PgBouncer's container: directly where the file is shared, else through the Docker API. */
async function writeDatabasesFile(config: PgBouncerConfig, text: string): Promise<void> {
  if (config.databasesFileShared) {
    // Renamed into place, so PgBouncer never reads half a file.
    const temporary = `${config.databasesFile}.${process.pid}.tmp`;
    await writeFile(temporary, text, { mode: 0o644 });
    await rename(temporary, config.databasesFile);
    return;
  }
  await putFiles(engineFor(config.docker), config.container, dirname(config.databasesFile), { [basename(config.databasesFile)]: text });
}
