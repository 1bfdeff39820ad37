import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POSTGRES_PASSWORD, REPLICATION_PASSWORD, type TestCluster } from './cluster.js';

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (dist/) as a user would, with the test cluster's passwords; never throws on a non-zero exit. */
export async function failoverCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 180_000): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run('node', ['dist/cli/main.js', ...args], {
      env: { ...process.env, POSTGRES_PASSWORD, REPLICATION_PASSWORD, ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A config file for the CLI that points at a test cluster: its etcd, and each node's port on 127.0.0.1 as `hostPort`. */
export function writeCliConfig(cluster: TestCluster, extra: Record<string, unknown> = {}): { file: string; dir: string } {
  const config = cluster.config();
  const dir = mkdtempSync(join(tmpdir(), 'pgf-cli-'));
  const file = join(dir, 'cluster.json');
  writeFileSync(
    file,
    JSON.stringify({
      cluster: config.cluster,
      etcd: { endpoints: config.etcd.endpoints },
      nodes: config.nodes.map((n) => ({ name: n.name, container: n.container, host: n.host, port: n.port, hostPort: n.port })),
      // A cluster started with `backups` has a backup section (schedule off); `extra` may replace it.
      ...(config.backup ? { backup: config.backup } : {}),
      ...extra,
    }),
  );
  return { file, dir };
}
