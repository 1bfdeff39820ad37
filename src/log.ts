import { pino, type DestinationStream, type Logger } from 'pino';

// Secrets never reach logs: redact anything that looks like one, wherever it is nested.
const redactPaths = ['password', '*.password', '*.*.password', 'connectionString', '*.connectionString', 'env', '*.env'];

/** A logger with the redaction above; `destination` (default stdout) lets a test read what would be printed. */
export function createLogger(name: string, level = process.env.FAILOVER_LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = { name, level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { pid: process.pid } };
  return destination ? pino(options, destination) : pino(options);
}

export type { DestinationStream, Logger };
