import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Certificates and secret files for the node image's TLS and *_FILE contract (issue 15), made on
// the host for one test run and bind-mounted into the nodes: a CA from scripts/tls, one server
// certificate per node (its container name, its node name, and 127.0.0.1/localhost for the
// published port), each node's key owned by the image's postgres uid with mode 0600.

/** Where the node image looks for server.crt, server.key and ca.crt (PGF_TLS_DIR's default). */
export const NODE_TLS_DIR = '/etc/pg-failover/tls';
/** Where a test mounts a node's secret files (read-only), as Docker secrets would be. */
export const NODE_SECRETS_DIR = '/run/secrets';

const TLS_SCRIPT = fileURLToPath(new URL('../../scripts/tls', import.meta.url));
const RUN_DIR_PREFIX = 'pgf-test-';

let postgresIds: { uid: number; gid: number } | null = null;

/** The uid and gid of the postgres user in the node image (the owner a mounted key must have). */
export function imagePostgresIds(image = 'pg-failover/postgres:lab'): { uid: number; gid: number } {
  if (!postgresIds) {
    const id = (flag: string) => Number(execFileSync('docker', ['run', '--rm', '--entrypoint', 'id', image, flag, 'postgres'], { encoding: 'utf8' }).trim());
    postgresIds = { uid: id('-u'), gid: id('-g') };
  }
  return postgresIds;
}

/** Files of one test run on the host, removed with the run (or by the next run, once the owning process is gone). */
export class RunFiles {
  readonly dir: string;

  constructor(runId: string) {
    this.dir = join(tmpdir(), `${RUN_DIR_PREFIX}${process.pid}-${runId}`);
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    chmodSync(this.dir, 0o755);
  }

  /** A directory the node image can traverse (the mount's own mode applies inside the container). */
  subdir(...parts: string[]): string {
    const path = join(this.dir, ...parts);
    mkdirSync(path, { recursive: true, mode: 0o755 });
    chmodSync(path, 0o755);
    return path;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Run directories left by test processes that are gone. */
  static removeStale(alive: (pid: number) => boolean): void {
    for (const name of readdirSync(tmpdir())) {
      const pid = Number(/^pgf-test-(\d+)-/.exec(name)?.[1]);
      if (Number.isInteger(pid) && pid > 0 && !alive(pid)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** A test run's CA and its nodes' certificates. */
export class TestTls {
  /** The CA's directory on the host (ca.crt, ca.key and the signed pairs). */
  readonly caDir: string;

  constructor(private readonly files: RunFiles, name = 'ca') {
    this.caDir = files.subdir(name);
    execFileSync(TLS_SCRIPT, ['ca', this.caDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  }

  get caFile(): string {
    return join(this.caDir, 'ca.crt');
  }

  ca(): string {
    return readFileSync(this.caFile, 'utf8');
  }

  /**
   * The directory to mount at NODE_TLS_DIR for one node: server.crt and server.key for the
   * names the others and the tests use, ca.crt; the key is the image's postgres user's, 0600.
   */
  nodeDir(node: string, container: string): string {
    execFileSync(TLS_SCRIPT, ['server', this.caDir, node, container, node, 'localhost', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const dir = this.files.subdir('nodes', node);
    const { uid, gid } = imagePostgresIds();
    copyFileSync(join(this.caDir, `${node}.crt`), join(dir, 'server.crt'));
    copyFileSync(join(this.caDir, `${node}.key`), join(dir, 'server.key'));
    copyFileSync(this.caFile, join(dir, 'ca.crt'));
    chmodSync(join(dir, 'server.crt'), 0o644);
    chmodSync(join(dir, 'ca.crt'), 0o644);
    chownSync(join(dir, 'server.key'), uid, gid);
    chmodSync(join(dir, 'server.key'), 0o600);
    return dir;
  }
}

/**
 * Secret files for the *_FILE variables: one file per secret, readable by the image's postgres
 * user only; returns the environment that names them (NAME_FILE=/run/secrets/name).
 */
export function writeSecretFiles(dir: string, secrets: Record<string, string>): Record<string, string> {
  const { uid, gid } = imagePostgresIds();
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(secrets)) {
    const file = name.toLowerCase();
    writeFileSync(join(dir, file), `${value}\n`, { mode: 0o400 });
    chownSync(join(dir, file), uid, gid);
    env[`${name}_FILE`] = `${NODE_SECRETS_DIR}/${file}`;
  }
  return env;
}
