import type Docker from 'dockerode';
import type { NodeConfig } from '../config/schema.js';
import { tryParseLsn } from '../core/lsn.js';
import { DOCKER_DEADLINES, withDeadline } from '../docker/engine.js';
import { sleep } from '../time.js';
import { type BackupEdges, stanzaOf } from './edges.js';
import { checkArchiving, errorLineOf, pgbackrestInfo, PgbackrestError, repositoryOf } from './pgbackrest.js';
import { createVolume, findTemplate, hostPortOf, isRunning, logsOf, nameTaken, psqlIn, removeCopy, RESTORE_LABEL, runToEnd, type Template } from './restore-container.js';
import { chooseBackupSet, type BackupPoint, type RestoreTarget } from './restore-target.js';

// `failover backup restore --to <time|lsn> --as <name>` (issue 16): a restored copy beside the
// cluster, never in place of it. A new volume pgf-restore-<name> gets the backup that ended
// last before the target (pgbackrest restore, in a one-off container of a node's image), then a
// container pgf-restore-<name> on that volume replays the archive up to the target and promotes.
//
// The copy must never write into the cluster's repository: its promotion starts a timeline of
// its own, and a .history file or segment of that timeline pushed into the cluster's archive
// could collide with the cluster's next timeline. So: archive_mode=off three ways (pgBackRest's
// --archive-mode=off, PGF_BACKUP_ARCHIVE=off for the image's entrypoint, and on the command
// line, which wins over every config file), checked once it runs, and the backup storage is
// mounted read-only. It has no replication or synchronous settings either (a primary's
// synchronous_standby_names would make every commit in the copy wait for standbys it has not).

export interface RestoreCopyOptions {
  /** A valid name (checkRestoreName): the container and the volume are pgf-restore-<name>. */
  name: string;
  target: RestoreTarget;
  /** The published primary: before restoring, a commit and a WAL switch there put the WAL up to now in the archive. Null: skipped. */
  primary: NodeConfig | null;
  now?: () => number;
  /** Progress, one line at a time (the CLI prints it on stderr). */
  progress?: (line: string) => void;
}

export interface RestoredCopy {
  name: string;
  container: string;
  volume: string;
  image: string;
  /** The image's superuser, reached with `docker exec … psql -U <it>` (peer, no password). */
  superuser: string;
  network: string | null;
  /** Where 5432 is published, on 127.0.0.1 of the Docker host of `from`. */
  hostPort: number;
  from: string;
  target: { type: 'time' | 'lsn'; value: string };
  backupSet: string;
  timeline: number | null;
  restoreMs: number;
  recoveryMs: number;
  totalMs: number;
  warnings: string[];
}

export type RestoreCopyResult =
  | { ok: true; copy: RestoredCopy }
  /** Refused before anything was created. */
  | { ok: false; created: false; error: string }
  /** Failed after the volume was created; what was created is removed again (`leftovers` names what could not be). */
  | { ok: false; created: true; error: string; leftovers: string[] };

export const restoreNameOf = (name: string): string => `pgf-restore-${name}`;

export async function restoreCopy(edges: BackupEdges, options: RestoreCopyOptions): Promise<RestoreCopyResult> {
  const now = options.now ?? Date.now;
  const say = options.progress ?? (() => undefined);
  const began = now();
  const deadline = began + edges.backup.pgbackrest.timeoutMs;
  const container = restoreNameOf(options.name);
  const volume = container;
  const refuse = (error: string): RestoreCopyResult => ({ ok: false, created: false, error });

  const order = options.primary ? [options.primary, ...edges.nodes.filter((n) => n.name !== options.primary!.name)] : edges.nodes;
  const found = await findTemplate(order, (node) => edges.engine(node), edges.backup.directory);
  if (!found.ok) return refuse(`no running node mounts the backup storage at ${edges.backup.directory} (${found.reasons.join('; ')})`);
  const template = found.template;
  // The restore's helper container too: one left by a restore whose CLI was killed holds the volume.
  const taken = (await nameTaken(template.engine, container)) ?? ((await nameTaken(template.engine, `${container}-pgbackrest`)) === 'container' ? 'helper container' : null);
  if (taken) return refuse(`a ${taken} named ${container} exists already; choose another --as, or remove it (docker rm -f ${container} ${container}-pgbackrest; docker volume rm ${volume})`);

  let points: BackupPoint[];
  try {
    points = (await pgbackrestInfo(edges, template.node)).backup.map((b) => ({ label: b.label, stopSec: b.timestamp.stop, stopLsn: b.lsn?.stop ? tryParseLsn(b.lsn.stop) : null }));
  } catch (error) {
    return refuse(error instanceof PgbackrestError ? error.message : String(error));
  }
  const set = chooseBackupSet(options.target, points, now());
  if (!set.ok) return refuse(set.error);
  const warnings = options.primary ? await archiveUpToNow(edges, options.primary, say) : ['no published primary: the WAL written since the last segment switch may not be in the archive yet'];

  const labels = { [RESTORE_LABEL]: options.name, 'pg-failover.cluster': edges.cluster, 'pg-failover.restore-target': options.target.target, 'pg-failover.restore-set': set.value.label };
  const fail = async (error: string): Promise<RestoreCopyResult> => {
    say(`${error}; removing ${container} and its volume`);
    await removeCopy(template.engine, `${container}-pgbackrest`, null);
    return { ok: false, created: true, error, leftovers: await removeCopy(template.engine, container, volume) };
  };
  try {
    // Inside the try: a create that timed out after Docker made the volume must not leave it behind.
    await createVolume(template.engine, volume, labels);
    say(`restoring backup ${set.value.label} into volume ${volume} (${template.node.name}'s image ${template.image})`);
    const restoreStarted = now();
    const restored = await runToEnd(template.engine, `${container}-pgbackrest`, restoreJob(edges, template, volume, set.value.label, options.target, labels), Math.max(1000, deadline - now()));
    if (restored.exitCode !== 0) return await fail(errorLineOf({ exitCode: restored.exitCode, stdout: restored.output, stderr: '' }, 'pgbackrest restore'));
    const restoreMs = now() - restoreStarted;

    say(`starting ${container}: replaying the archive to ${options.target.target}, then promoting`);
    const recoveryStarted = now();
    await startCopy(template, container, volume, edges, options.name, labels);
    const promoted = await awaitPromotion(template.engine, container, deadline, now);
    if (promoted !== null) return await fail(promoted);
    const recoveryMs = now() - recoveryStarted;

    const archiveMode = await psqlIn(template.engine, container, 'SHOW archive_mode');
    if (!archiveMode.ok || archiveMode.out !== 'off') return await fail(`the copy came up with archive_mode=${archiveMode.out || '?'}, not off; a copy must never archive into the cluster's repository`);
    const walFile = await psqlIn(template.engine, container, 'SELECT pg_walfile_name(pg_current_wal_lsn())');
    const timeline = walFile.ok && /^[0-9A-F]{24}$/.test(walFile.out) ? parseInt(walFile.out.slice(0, 8), 16) : null;
    const hostPort = await hostPortOf(template.engine, container);
    if (hostPort === null) return await fail(`Docker published no host port for ${container}'s 5432`);
    return {
      ok: true,
      copy: {
        name: options.name,
        container,
        volume,
        image: template.image,
        superuser: template.env.find((e) => e.startsWith('POSTGRES_USER='))?.slice('POSTGRES_USER='.length) || 'postgres',
        network: template.network ?? null,
        hostPort,
        from: template.node.name,
        target: { type: options.target.type, value: options.target.target },
        backupSet: set.value.label,
        timeline,
        restoreMs,
        recoveryMs,
        totalMs: now() - began,
        warnings,
      },
    };
  } catch (error) {
    return await fail(`the restore stopped: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Makes the archive reach now: a transaction that commits (so that a time target just before
 * now has a commit after it to stop at: recovery to a time ends at the first commit past it,
 * and fails when the archive has none), then `pgbackrest check`, which switches to a new WAL
 * segment and waits until the finished one is archived. Problems are warnings: a target well
 * in the past needs neither.
 */
async function archiveUpToNow(edges: BackupEdges, primary: NodeConfig, say: (line: string) => void): Promise<string[]> {
  say(`making sure the WAL up to now is archived (a commit and a WAL switch on ${primary.name})`);
  const warnings: string[] = [];
  const engine = edges.engine(primary);
  const commit = await psqlIn(engine, primary.container, 'SELECT txid_current()').catch((error: unknown) => ({ ok: false, out: String(error) }));
  if (!commit.ok) warnings.push(`no commit on ${primary.name} (${commit.out.split('\n')[0]}): a target after its last commit cannot be reached`);
  try {
    await checkArchiving(edges, primary);
  } catch (error) {
    warnings.push(`the WAL up to now may not be archived: ${error instanceof Error ? error.message : String(error)}`);
  }
  return warnings;
}

function restoreJob(edges: BackupEdges, template: Template, volume: string, set: string, target: RestoreTarget, labels: Record<string, string>): Docker.ContainerCreateOptions {
  return {
    Image: template.image,
    Entrypoint: ['pgbackrest'],
    Cmd: [
      `--stanza=${stanzaOf(edges)}`,
      `--repo1-path=${repositoryOf(edges)}`,
      `--pg1-path=${template.pgdata}`,
      '--log-level-console=info',
      '--log-level-stderr=off',
      '--log-level-file=off',
      '--process-max=2',
      `--set=${set}`,
      `--type=${target.type}`,
      `--target=${target.target}`,
      '--target-action=promote',
      '--target-timeline=latest',
      '--archive-mode=off',
      'restore',
    ],
    User: 'postgres',
    Labels: labels,
    // Files only, from the read-only repository into the new volume: no network at all.
    HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: template.pgdata }, template.backupMount], NetworkMode: 'none', AutoRemove: false },
  };
}

async function startCopy(template: Template, container: string, volume: string, edges: BackupEdges, name: string, labels: Record<string, string>): Promise<void> {
  const { engine } = template;
  const created = await withDeadline('create', container, DOCKER_DEADLINES.create, (abortSignal) => engine.createContainer({
    name: container,
    abortSignal,
    Image: template.image,
    Env: [...template.env, `NODE_NAME=restore-${name}`, `PGF_BACKUP_DIR=${edges.backup.directory}`, `PGF_BACKUP_STANZA=${stanzaOf(edges)}`, 'PGF_BACKUP_ARCHIVE=off'],
    // Command-line settings win over postgresql.conf and postgresql.auto.conf (ALTER SYSTEM).
    Cmd: ['postgres', '-c', 'archive_mode=off', '-c', 'synchronous_standby_names=', '-c', 'primary_conninfo=', '-c', 'primary_slot_name='],
    Labels: labels,
    ExposedPorts: { '5432/tcp': {} },
    StopSignal: 'SIGINT',
    HostConfig: {
      Mounts: [{ Type: 'volume', Source: volume, Target: template.pgdata }, template.backupMount, ...(template.tlsMount ? [template.tlsMount] : [])],
      ...(template.network ? { NetworkMode: template.network } : {}),
      // Loopback only, on a port Docker chooses (free by construction).
      PortBindings: { '5432/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    },
  } as Docker.ContainerCreateOptions));
  await withDeadline('start', container, DOCKER_DEADLINES.start, (abortSignal) => created.start({ abortSignal }));
}

/** Null once the copy accepts writes (promoted); else why not, from its log. */
async function awaitPromotion(engine: Docker, container: string, deadline: number, now: () => number): Promise<string | null> {
  while (now() < deadline) {
    if (!(await isRunning(engine, container))) return `the copy stopped during recovery: ${reasonFromLog(await logsOf(engine, container).catch(() => ''))}`;
    const state = await psqlIn(engine, container, 'SELECT pg_is_in_recovery()', 5000).catch(() => ({ ok: false, out: '' }));
    if (state.ok && state.out === 'f') return null;
    await sleep(250);
  }
  return `the copy did not finish recovery within backup.pgbackrest.timeoutMs`;
}

/** The line of PostgreSQL's log that says why recovery stopped, with what to do about the usual one. */
export function reasonFromLog(log: string): string {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  const fatal = [...lines].reverse().find((l) => /\b(FATAL|PANIC):/.test(l)) ?? [...lines].reverse().find((l) => /\bERROR:/.test(l)) ?? lines[lines.length - 1] ?? 'no log';
  const message = fatal.replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, '');
  if (/recovery ended before configured recovery target was reached/.test(message)) {
    const last = lines.find((l) => /last completed transaction was at log time/.test(l))?.replace(/^.*?LOG:\s*/, '');
    return `${message}${last ? ` (${last})` : ''}: the archive holds no commit after the target on the timelines restored`;
  }
  return message.slice(0, 500);
}
