import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The shape the design promises, checked: a pure core, roles that do not import each
// other, and files small enough to hold one idea each.

const SRC = new URL('../../src/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));
const importsOf = (text: string) => [...text.matchAll(/^(?:import|export)[^'"]*from '([^']+)'/gm)].map((m) => m[1]!);
const folderOf = (path: string) => (path.includes('/') ? path.split('/')[0]! : '.');
const targetFolder = (from: string, spec: string) => {
  if (!spec.startsWith('.')) return null;
  const resolved = join(folderOf(from) === '.' ? '' : folderOf(from), spec);
  return resolved.startsWith('..') ? '..' : folderOf(resolved);
};

describe('the source tree', () => {
  it('keeps src/core pure: it imports nothing outside itself (no I/O, no clock, no packages)', () => {
    const leaks = files
      .filter((f) => f.path.startsWith('core/'))
      .flatMap((f) => importsOf(f.text).filter((spec) => !spec.startsWith('./')).map((spec) => `${f.path} imports ${spec}`));
    expect(leaks).toEqual([]);
  });

  it.each([
    ['agent', 'http'],
    ['agent', 'cli'],
    ['agent', 'drill'],
    ['drill', 'agent'],
    ['cli', 'agent'],
  ])('%s/ does not import %s/ (except the agent command, which starts an agent)', (from, to) => {
    const crossing = files
      .filter((f) => folderOf(f.path) === from && f.path !== 'cli/commands/agent.ts')
      .flatMap((f) => importsOf(f.text).filter((spec) => targetFolder(f.path, spec) === to).map((spec) => `${f.path} imports ${spec}`));
    expect(crossing).toEqual([]);
  });

  it('has no file over 400 lines', () => {
    const long = files.map((f) => ({ path: f.path, lines: f.text.split('\n').length })).filter((f) => f.lines > 400);
    expect(long).toEqual([]);
  });
});
