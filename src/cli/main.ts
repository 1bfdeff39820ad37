#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliError } from './context.js';
import { registerAgent } from './commands/agent.js';
import { registerBackup } from './commands/backup.js';
import { registerDrill } from './commands/drill.js';
import { registerHealth } from './commands/health.js';
import { registerPromote } from './commands/promote.js';
import { registerHistory } from './commands/history.js';
import { registerPause } from './commands/pause.js';
import { registerEvents } from './commands/events.js';
import { registerRules } from './commands/rules.js';
import { registerStatus } from './commands/status.js';

// `failover history | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

// gRPC passes the endpoint's host as the TLS server name, and Node warns (DEP0123) on
// every connection to an IP address such as the lab's 127.0.0.1 over TLS. The
// certificate is still checked against the IP (its subjectAltName carries it); only
// that warning is dropped, so that each command's stderr stays one clear line.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((...args: unknown[]) => {
  const [, type, code] = args;
  const options = typeof type === 'object' && type !== null ? (type as { code?: string }) : { code };
  if (options.code === 'DEP0123') return;
  emitWarning(...args);
}) as typeof process.emitWarning;

const program = new Command('failover')
  .description('automated failover for PostgreSQL streaming replication in Docker')
  .option('--etcd <urls>', 'etcd endpoints, comma-separated (env FAILOVER_ETCD; with no flags the lab\'s config/lab.json, else http://127.0.0.1:2379)')
  .option('--cluster <name>', 'cluster name (env FAILOVER_CLUSTER, default main)')
  .option('--config <file>', 'config file (env FAILOVER_CONFIG)')
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) });

registerAgent(program);
registerStatus(program);
registerHistory(program);
registerPause(program);
registerDrill(program);
registerHealth(program);
registerPromote(program);
registerRules(program);
registerEvents(program);
registerBackup(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof CliError) {
    process.stderr.write(`failover: ${error.message.split('\n').join('\nfailover: ')}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`failover: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
