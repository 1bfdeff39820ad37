import { readFileSync } from 'node:fs';
import { baseDirOf, resolveConfigPaths } from './paths.js';
import { configSchema, type Config, type Credential } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export interface ConfigOverrides {
  file?: string;
  etcd?: string;
  cluster?: string;
}

/** Reads the config file, applies environment and flag overrides, validates with zod. */
export function loadConfig(overrides: ConfigOverrides, env: NodeJS.ProcessEnv = process.env): Config {
  const file = overrides.file ?? env.FAILOVER_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError([`config: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError([`config: ${file} is not valid JSON: ${(error as Error).message}`]);
    }
  } else {
    // Without a file, the CLI still works as a client of etcd: nodes are not needed to read status.
    raw = { nodes: [{ name: 'unconfigured', container: 'unconfigured', host: 'unconfigured' }] };
  }
  const etcd = overrides.etcd ?? env.FAILOVER_ETCD;
  const cluster = overrides.cluster ?? env.FAILOVER_CLUSTER;
  const merged = {
    ...raw,
    ...(cluster ? { cluster } : {}),
    etcd: { ...((raw.etcd as object | undefined) ?? {}), ...(etcd ? { endpoints: etcd.split(',').map((s) => s.trim()) } : {}) },
  };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `config: ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`),
    );
  }
  return file ? resolveConfigPaths(parsed.data, baseDirOf(file)) : parsed.data;
}

/** Resolves a credential's password from the environment or a file; never logged. */
export function passwordOf(credential: Pick<Credential, 'user' | 'passwordEnv' | 'passwordFile'>, env: NodeJS.ProcessEnv = process.env): string {
  if (credential.passwordEnv !== undefined) {
    const value = env[credential.passwordEnv];
    if (value !== undefined && value !== '') return value;
    if (credential.passwordFile === undefined) {
      throw new ConfigError([`config: environment variable ${credential.passwordEnv} (password of ${credential.user}) is not set`]);
    }
  }
  try {
    return readFileSync(credential.passwordFile!, 'utf8').trim();
  } catch {
    throw new ConfigError([`config: cannot read password file ${credential.passwordFile} for ${credential.user}`]);
  }
}
