import { pino, type Logger } from 'pino';

// Secrets never reach logs: redact anything that looks like one, wherever it is nested.
const redactPaths = ['password', '*.password', '*.*.password', 'connectionString', '*.connectionString', 'env', '*.env'];

export function createLogger(name: string, level = process.env.FAILOVER_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { pid: process.pid } });
}

export type { Logger };
