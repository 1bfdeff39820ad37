import { describe, expect, it } from 'vitest';
import { parseControlFile } from '../../../src/postgres/control-file.js';
import { firstTarEntry } from '../../../src/docker/read-file.js';

// The first 64 bytes of a real pg_control (PostgreSQL 15, x86-64) after a fast shutdown, for which
// pg_controldata printed: version 1300, "shut down", checkpoint 0/1537590, REDO 0/1537590, TimeLineID 1.
const REAL = Buffer.from('0fd0c05ceb0b0c6b1405000025770d0c0100000000000000ec0b0c6b000000009075530100000000907553010000000001000000010000000100000000000000', 'hex');

describe('parseControlFile', () => {
  it('reads what pg_controldata printed for the same file', () => {
    expect(parseControlFile(REAL)).toEqual({ version: 1300, state: 'shut down', checkpointLsn: 0x1537590n, redoLsn: 0x1537590n, timeline: 1 });
  });

  it('names the state of a server that did not shut down cleanly', () => {
    const running = Buffer.from(REAL);
    running.writeUInt32LE(6, 16);
    expect(parseControlFile(running).state).toBe('in production');
  });

  it.each([
    ['a file too short', REAL.subarray(0, 40), /too short/],
    ['an unknown version', (() => { const b = Buffer.from(REAL); b.writeUInt32LE(42, 8); return b; })(), /version 42 is not one this reader knows/],
    ['a version far beyond any PostgreSQL', (() => { const b = Buffer.from(REAL); b.writeUInt32LE(123456, 8); return b; })(), /version 123456/],
    ['an unknown state', (() => { const b = Buffer.from(REAL); b.writeUInt32LE(9, 16); return b; })(), /unknown database state 9/],
  ])('refuses %s with one line saying why', (_what, file, message) => {
    expect(() => parseControlFile(file)).toThrow(message);
  });
});

describe('firstTarEntry', () => {
  it('returns the body of the first entry', () => {
    const header = Buffer.alloc(512, 0);
    header.write('pg_control', 0, 'ascii');
    header.write('00000000005\0', 124, 'ascii');
    const archive = Buffer.concat([header, Buffer.from('hello'), Buffer.alloc(507 + 1024, 0)]);
    expect(firstTarEntry(archive, 'x').toString()).toBe('hello');
  });

  it('refuses an archive shorter than its entry says', () => {
    const header = Buffer.alloc(512, 0);
    header.write('00000020000\0', 124, 'ascii');
    expect(() => firstTarEntry(header, 'n:/f')).toThrow(/truncated/);
  });
});
