import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { docker } from './cluster.js';
import { secretsIn } from './secret-scan.js';

// Safety rule 8 while things happen: a password handed to a process as an argument, or put
// into a container's environment, lives only as long as that process or container does, so
// a scan afterwards cannot see it. This sampler looks every ~50 ms, for as long as it runs, at
// (a) the host's process list with full command lines (`ps -eww -o args=`: the processes inside
// the containers are the host's too: pg_basebackup, pg_rewind, psql, pg_ctl, the entrypoints)
// and (b) `docker inspect` of every container of one test run (nodes, PgBouncers, etcd, the
// agents' one-off helpers: Config.Env, Config.Cmd, Path, Args, everything) and the command
// line of every exec instance the engine lists for them (Docker lists an exec only while it
// runs: a few-millisecond exec is seen only if a round falls in it).

const run = promisify(execFile);
const PERIOD_MS = 50;

export interface Leak {
  secret: string;
  /** Where it was seen: `ps`, `inspect <container>` or `exec <container>`. */
  where: string;
  /** The line or document it was seen in, cut to a readable length. */
  text: string;
  at: number;
}

export class LeakSampler {
  readonly leaks: Leak[] = [];
  /** When each round of the process list was taken. */
  readonly psRounds: number[] = [];
  /** When each round of container (and exec) inspection was taken. */
  readonly dockerRounds: number[] = [];
  /** Process command lines that `watch` matched (WAL positions and client addresses masked), with when each was first seen. */
  readonly processes = new Map<string, number>();
  /** `<container>: <argv>` of every exec instance seen, with when it was first seen. */
  readonly execs = new Map<string, number>();
  /** Sampling errors other than a container or exec gone between list and inspect. */
  readonly errors: string[] = [];
  private readonly seenExecIds = new Set<string>();
  private readonly leakKeys = new Set<string>();
  private running = false;
  private loops: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly secrets: Record<string, string>,
    /** The label `key=value` every container of the run carries (helpers included). */
    private readonly runLabel: string,
    /** Process lines worth remembering: the evidence that the rounds saw the operation. */
    private readonly watch: RegExp,
  ) {}

  start(): this {
    this.running = true;
    this.loops = Promise.all([this.loop(() => this.sampleProcesses()), this.loop(() => this.sampleContainers())]);
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loops;
  }

  /** Rounds of the process list taken between `from` and `to` (epoch ms). */
  psRoundsBetween(from: number, to: number): number {
    return this.psRounds.filter((at) => at >= from && at <= to).length;
  }

  dockerRoundsBetween(from: number, to: number): number {
    return this.dockerRounds.filter((at) => at >= from && at <= to).length;
  }

  /** The longest time between two rounds of the process list taken between `from` and `to`, in ms (the edges count as rounds). */
  longestPsGap(from: number, to: number): number {
    const rounds = [from, ...this.psRounds.filter((at) => at > from && at < to), to];
    return rounds.slice(1).reduce((max, at, i) => Math.max(max, at - rounds[i]!), 0);
  }

  private async loop(sample: () => Promise<void>): Promise<void> {
    while (this.running) {
      const began = Date.now();
      await sample().catch((error: unknown) => void this.errors.push(error instanceof Error ? error.message : String(error)));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, PERIOD_MS - (Date.now() - began))));
    }
  }

  /** Each leak once (the first round that saw it), however many rounds see it again. */
  private record(text: string, where: string, at: number): void {
    for (const secret of secretsIn(text, this.secrets)) {
      const key = `${secret} ${where} ${steady(text)}`;
      if (this.leakKeys.has(key) || this.leaks.length >= 200) continue;
      this.leakKeys.add(key);
      this.leaks.push({ secret, where, text: text.length > 600 ? `${text.slice(0, 600)}…` : text, at });
    }
  }

  private async sampleProcesses(): Promise<void> {
    const at = Date.now();
    const { stdout } = await run('ps', ['-eww', '-o', 'args='], { maxBuffer: 64 * 1024 * 1024 });
    this.psRounds.push(at);
    for (const line of stdout.split('\n')) {
      if (line.trim() === '') continue;
      this.record(line, 'ps', at);
      const key = steady(line.trim());
      if (this.watch.test(line) && !this.processes.has(key)) this.processes.set(key, at);
    }
  }

  private async sampleContainers(): Promise<void> {
    const at = Date.now();
    const containers = await docker.listContainers({ all: true, filters: { label: [this.runLabel] } });
    await Promise.all(
      containers.map(async (listed) => {
        const name = listed.Names[0]?.replace(/^\//, '') ?? listed.Id;
        const info = await docker.getContainer(listed.Id).inspect().catch(gone);
        if (!info) return;
        // Every field of the document (Config.Env, Config.Cmd, Config.Entrypoint, Path, Args, labels, mounts, health-check output), each named by its path.
        for (const [path, value] of fields(info)) this.record(value, `inspect ${name} ${path}`, at);
        const fresh = (info.ExecIDs ?? []).filter((id) => !this.seenExecIds.has(id));
        await Promise.all(
          fresh.map(async (id) => {
            const exec = await docker.getExec(id).inspect().catch(gone);
            if (!exec) return;
            // An exec's command line never changes: each is read once.
            this.seenExecIds.add(id);
            const { entrypoint, arguments: args } = exec.ProcessConfig;
            const argv = `${name}: ${[entrypoint, ...args].join(' ')}`;
            if (!this.execs.has(argv)) this.execs.set(argv, at);
            this.record(JSON.stringify(exec.ProcessConfig), `exec ${name}`, at);
          }),
        );
      }),
    );
    this.dockerRounds.push(at);
  }
}

/** The document's string and number fields with their paths (`Config.Env[3]`), keys included as values of their own. */
function* fields(value: unknown, path = ''): Generator<[string, string]> {
  if (typeof value === 'string' || typeof value === 'number') yield [path, String(value)];
  else if (Array.isArray(value)) for (const [i, item] of value.entries()) yield* fields(item, `${path}[${i}]`);
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      yield [`${at} (key)`, key];
      yield* fields(item, at);
    }
  }
}

/** A process title without what changes from one round to the next (WAL positions, client addresses). */
function steady(line: string): string {
  return line.replace(/\b[0-9A-F]{1,8}\/[0-9A-F]{1,8}\b/g, 'X/X').replace(/\d{1,3}(\.\d{1,3}){3}\(\d+\)/g, 'ADDR');
}

/** null for a container or exec removed between the list and the inspect (helpers come and go); else throws. */
function gone(error: unknown): null {
  if ((error as { statusCode?: number }).statusCode === 404) return null;
  throw error;
}
