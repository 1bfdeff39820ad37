#!/usr/bin/env node
// A role-change hook: points a Laravel `.env` at the new primary.
//
//   node dist/hooks/laravel-env.js [--host H] [--port P] /path/to/.env
//
// DB_HOST and DB_PORT come from --host/--port, else from PGF_NEW_PRIMARY_HOST and
// PGF_NEW_PRIMARY_PORT (set by the agent). The file is replaced atomically (temp file
// in the same directory, fsync, rename), keeping its mode and owner, so a reader sees
// the old file or the new one, never half of one. Exit 0 done (or nothing to change),
// 1 the file could not be written, 2 bad input (nothing changed).
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { setDotenvValues } from './dotenv.js';

class UsageError extends Error {}

const HOST = /^[A-Za-z0-9._:[\]-]+$/;

interface Target {
  file: string;
  host: string;
  port: string;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): Target {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { host: { type: 'string' }, port: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError('usage: laravel-env [--host H] [--port P] <path to .env>');
  const host = values.host ?? env.PGF_NEW_PRIMARY_HOST;
  const port = values.port ?? env.PGF_NEW_PRIMARY_PORT;
  if (!host) throw new UsageError('no host: pass --host or set PGF_NEW_PRIMARY_HOST');
  if (!port) throw new UsageError('no port: pass --port or set PGF_NEW_PRIMARY_PORT');
  // Plain values only: nothing that would need quoting or escaping in a dotenv file.
  if (!HOST.test(host)) throw new UsageError(`invalid host ${JSON.stringify(host)}`);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new UsageError(`invalid port ${JSON.stringify(port)}`);
  return { file: positionals[0]!, host, port };
}

/** Replaces `file` with `text` atomically, keeping mode and (when allowed) owner. */
async function replaceFile(file: string, text: string, mode: number, uid: number, gid: number): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.pgf-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode & 0o7777);
  try {
    await handle.writeFile(text);
    // The umask may have narrowed the mode given to open().
    await handle.chmod(mode & 0o7777);
    if (process.getuid?.() === 0) await handle.chown(uid, gid);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  // The rename itself is durable only once the directory is synced; not every filesystem allows it.
  const dir = await open(dirname(file), 'r').catch(() => null);
  await dir?.sync().catch(() => undefined);
  await dir?.close();
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let target: Target;
  let path: string;
  let original: string;
  let info: Stats;
  try {
    target = parse(argv, env);
    // A symlinked .env (a deploy tool's shared file) is rewritten where it points, and stays a symlink.
    path = await realpath(target.file).catch(() => {
      throw new UsageError(`cannot read ${target.file}: no such file`);
    });
    info = await stat(path);
    if (!info.isFile()) throw new UsageError(`${target.file} is not a regular file`);
    original = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${target.file}: ${error.code ?? error.message}`);
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`laravel-env: ${error.message}\n`);
    return 2;
  }
  const updated = setDotenvValues(original, { DB_HOST: target.host, DB_PORT: target.port });
  if (updated === original) {
    process.stdout.write(`laravel-env: ${target.file} already has DB_HOST=${target.host} DB_PORT=${target.port}\n`);
    return 0;
  }
  try {
    await replaceFile(path, updated, info.mode, info.uid, info.gid);
  } catch (error) {
    process.stderr.write(`laravel-env: cannot write ${target.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`laravel-env: ${target.file} now has DB_HOST=${target.host} DB_PORT=${target.port}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2), process.env);
