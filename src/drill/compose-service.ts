import { execFile } from 'node:child_process';

/**
 * How `remove-primary` brings a removed node back: as a person would, with the lab's
 * compose file (`docker compose up -d --no-deps <service>`), which creates the container
 * again from the service's definition, on the same named volume. The compose project is
 * read from the labels compose put on the container before it was removed.
 */
export interface ComposeService {
  project: string;
  service: string;
  /** The folder compose ran in: it reads `.env` (the lab's passwords) from there. */
  workingDir: string;
  configFiles: string[];
}

/** The compose service of a container, from its labels; null when compose did not create it. */
export function composeServiceOf(labels: Record<string, string> | undefined): ComposeService | null {
  const project = labels?.['com.docker.compose.project'];
  const service = labels?.['com.docker.compose.service'];
  const workingDir = labels?.['com.docker.compose.project.working_dir'];
  const files = labels?.['com.docker.compose.project.config_files'];
  if (!project || !service || !workingDir || !files) return null;
  // Compose v1 and v2 both list the files comma-separated.
  const configFiles = files.split(',').map((f) => f.trim()).filter((f) => f.length > 0);
  return configFiles.length === 0 ? null : { project, service, workingDir, configFiles };
}

/**
 * The arguments after `docker compose` (or `docker-compose`) that create the service's
 * container again, and only it: `--no-deps`, for its dependencies run, and compose
 * must not recreate them.
 */
export function composeUpArgs(service: ComposeService): string[] {
  return [...service.configFiles.flatMap((f) => ['-f', f]), '-p', service.project, 'up', '-d', '--no-deps', service.service];
}

/** Runs compose (v2 as a docker plugin, else v1's docker-compose) in the service's folder; rejects with its stderr. */
export async function composeUp(service: ComposeService, timeoutMs = 120_000): Promise<void> {
  const args = composeUpArgs(service);
  const v2 = await run('docker', ['compose', 'version'], service.workingDir, 10_000).then(
    () => true,
    () => false,
  );
  if (v2) await run('docker', ['compose', ...args], service.workingDir, timeoutMs);
  else await run('docker-compose', args, service.workingDir, timeoutMs);
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: timeoutMs }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${String(stderr).trim().split('\n').slice(-2).join(' ') || error.message}`));
      else resolve();
    });
  });
}
