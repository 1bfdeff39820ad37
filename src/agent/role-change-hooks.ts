import { spawn } from 'node:child_process';
import type { Config, HookConfig } from '../config/schema.js';
import type { OperationKind } from '../core/journal.js';
import type { Published } from '../core/types.js';
import type { Logger } from '../log.js';
import type { EventLog } from '../dcs/events.js';

/** What a role-change hook is told: one finished failover or switchover. */
export interface RoleChange {
  operationId: string;
  kind: OperationKind;
  reason: string;
  oldPrimary: string;
  /** The primary as published in etcd by the operation (name, epoch, timeline, since; its host and port are taken from the config). */
  published: Published;
}

export interface HookResult {
  name: string;
  /** null when the process did not exit by itself (killed on timeout, or never started). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  ms: number;
  /** Why the process could not be started (e.g. ENOENT), if it could not. */
  error?: string;
}

/** After SIGTERM, a hook has this long to exit before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** How much of each stream is kept and logged: enough for an error message, bounded for a chatty hook. */
const TAIL_CHARS = 1000;

/** The environment variables that hold the config's passwords and token (etcd's logins and the HTTP token included): a hook never sees them. */
export function secretEnvNames(config: Config): string[] {
  const names = [config.superuser.passwordEnv, config.replication.passwordEnv, config.endpoints?.admin.passwordEnv, config.etcd.passwordEnv, config.etcd.reader?.passwordEnv, config.http?.tokenEnv];
  return [...new Set(names.filter((name): name is string => name !== undefined))];
}

/** Text that came from etcd (an operation's id and reason), on one line: control characters become spaces. */
const oneLine = (text: string): string => text.replace(/[\u0000-\u001f\u007f]/g, ' ');

/**
 * The agent's environment minus the config's secrets, plus the PGF_* description of the change.
 * The new primary's host and port are the config's, never the record's (issue 15: what etcd
 * holds may have been written by anyone who reaches it); a node the config does not have throws.
 */
export function hookEnvironment(config: Config, change: RoleChange, base: NodeJS.ProcessEnv): Record<string, string> {
  const { published } = change;
  const node = config.nodes.find((n) => n.name === published.name);
  if (!node) throw new Error(`the new primary ${published.name} is not a node of the config`);
  const secrets = new Set(secretEnvNames(config));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value !== undefined && !secrets.has(key)) env[key] = value;
  }
  return {
    ...env,
    PGF_CLUSTER: config.cluster,
    PGF_KIND: change.kind,
    PGF_OPERATION_ID: oneLine(change.operationId),
    PGF_EPOCH: String(published.epoch),
    PGF_REASON: oneLine(change.reason),
    PGF_OLD_PRIMARY: change.oldPrimary,
    PGF_NEW_PRIMARY: node.name,
    PGF_NEW_PRIMARY_HOST: node.host,
    PGF_NEW_PRIMARY_PORT: String(node.port),
    PGF_TIMELINE: String(published.timeline),
    PGF_PUBLISHED_AT: oneLine(published.since),
  };
}

/**
 * Runs the configured role-change hooks after a published promotion. The leader
 * calls `run` without awaiting it: a hook is a notification, so a failing or slow
 * one is logged and never holds back, retries or undoes the operation.
 */
export class RoleChangeHooks {
  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly baseEnv: NodeJS.ProcessEnv = process.env,
    private readonly events: EventLog | null = null,
  ) {}

  /** Starts every hook at once; settles when all have ended and never rejects (tests await it, the agent does not). */
  run(change: RoleChange): Promise<HookResult[]> {
    const hooks = this.config.hooks.onRoleChange;
    if (hooks.length === 0) return Promise.resolve([]);
    let env: Record<string, string>;
    try {
      env = hookEnvironment(this.config, change, this.baseEnv);
    } catch (error) {
      this.log.error({ error: error instanceof Error ? error.message : String(error) }, 'role-change hooks not run');
      return Promise.resolve([]);
    }
    const log = this.log.child({ op: change.operationId, kind: change.kind, epoch: change.published.epoch, primary: change.published.name });
    return Promise.all(
      hooks.map(async (hook) => {
        const result = await runHook(hook, env, log);
        const outcome = result.timedOut ? `timed out after ${result.ms} ms` : result.exitCode === 0 ? 'succeeded' : `failed (exit ${result.exitCode ?? result.signal})`;
        void this.events?.emit({ kind: 'hook', rule: 'on-role-change', message: `hook ${hook.name} ${outcome} after the ${change.kind} to ${change.published.name}`, epoch: change.published.epoch, nodes: [change.published.name], elapsedMs: result.ms });
        return result;
      }),
    );
  }
}

/** Runs one hook to its end (or its timeout); resolves with what happened, never rejects. */
export function runHook(hook: HookConfig, env: Record<string, string>, log: Logger): Promise<HookResult> {
  const began = Date.now();
  // Only the name and the program: arguments are the user's and may carry a token.
  const hookLog = log.child({ hook: hook.name, program: hook.command[0] });
  return new Promise<HookResult>((resolve) => {
    const [program, ...args] = hook.command as [string, ...string[]];
    const stdout = new Tail();
    const stderr = new Tail();
    let timedOut = false;
    let settled = false;
    let termTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const finish = (result: Omit<HookResult, 'name' | 'ms' | 'timedOut'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(termTimer);
      // After a timeout the SIGKILL still goes out: whatever the hook started may ignore SIGTERM.
      if (!timedOut) clearTimeout(killTimer);
      const full: HookResult = { name: hook.name, ms: Date.now() - began, timedOut, ...result };
      const fields = { exitCode: full.exitCode, signal: full.signal, ms: full.ms, stdout: stdout.text(), stderr: stderr.text(), ...(full.error ? { error: full.error } : {}) };
      if (timedOut) hookLog.warn({ ...fields, timeoutMs: hook.timeoutMs }, 'role-change hook timed out and was killed');
      else if (full.exitCode === 0) hookLog.info(fields, 'role-change hook finished');
      else hookLog.warn(fields, 'role-change hook failed');
      resolve(full);
    };

    let child: ReturnType<typeof spawn>;
    try {
      // No shell: argv as configured. Its own process group, so a timeout also ends what the hook started.
      child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (error) {
      finish({ exitCode: null, signal: null, error: error instanceof Error ? error.message : String(error) });
      return;
    }
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      // ENOENT and friends: the process never ran.
      if (child.pid === undefined) finish({ exitCode: null, signal: null, error: error.message });
    });
    child.on('exit', (code, signal) => {
      // A grandchild may keep the pipes open: do not wait for them beyond a moment.
      setTimeout(() => finish({ exitCode: code, signal }), 200).unref();
    });
    child.on('close', (code, signal) => finish({ exitCode: code, signal }));

    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    termTimer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, hook.timeoutMs);
  });
}

/** The last TAIL_CHARS characters written to a stream. */
class Tail {
  private buffer = '';
  push(chunk: Buffer): void {
    this.buffer = (this.buffer + chunk.toString('utf8')).slice(-TAIL_CHARS);
  }
  text(): string {
    return this.buffer.trimEnd();
  }
}
