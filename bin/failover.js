#!/usr/bin/env node
// The `failover` command of package.json's "bin". From a clone, `npx failover …` finds
// that "bin" entry, links this file into npx's cache (keyed by the clone's path) and
// runs it. This file is committed, so the link is made even before dist/ exists: a
// "bin" that named dist/cli/main.js directly was not linked when npx first ran before
// the build, and npx kept reusing that entry ("sh: 1: failover: not found").
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const main = join(root, 'dist', 'cli', 'main.js');

function fail(message) {
  process.stderr.write(`failover: ${message}\n`);
  process.exit(1);
}

if (!existsSync(main)) {
  let tsc;
  try {
    tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    fail(`dist/ is not built and TypeScript is not installed; run npm ci && npm run build in ${root}`);
  }
  // The build's own output goes to stderr: stdout belongs to the command (--json).
  process.stderr.write('failover: dist/ is not built; building it first (npm run build)\n');
  const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: ['ignore', 2, 2] });
  if (build.status !== 0 || !existsSync(main)) fail(`the build failed (exit ${build.status ?? build.signal}); run npm run build in ${root} to see why`);
}

await import(pathToFileURL(main).href);
