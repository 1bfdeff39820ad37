// The few fields of PostgreSQL's global/pg_control that a switchover needs, read from the
// file itself: after a clean stop there is no server to ask, and pg_controldata would need
// a container of its own. The leading fields of ControlFileData have kept their layout
// since PostgreSQL 9.3 (x86-64 and arm64 are little-endian, 8-byte aligned):
//   0 system_identifier u64 | 8 pg_control_version u32 | 12 catalog_version_no u32
//  16 state (DBState) u32   | 24 time i64 | 32 checkPoint (XLogRecPtr) u64
//  40 checkPointCopy.redo u64 | 48 checkPointCopy.ThisTimeLineID u32
import type { Lsn } from '../core/types.js';

export const DB_STATES = ['starting up', 'shut down', 'shut down in recovery', 'shutting down', 'in crash recovery', 'in archive recovery', 'in production'] as const;
export type DbState = (typeof DB_STATES)[number];

export interface ControlFile {
  version: number;
  state: DbState;
  /** Where the latest checkpoint record starts: after a clean shutdown, the last record in the WAL. */
  checkpointLsn: Lsn;
  redoLsn: Lsn;
  timeline: number;
}

export function parseControlFile(file: Buffer): ControlFile {
  if (file.length < 56) throw new Error(`pg_control is ${file.length} bytes, too short to be one`);
  const version = file.readUInt32LE(8);
  // 9.3 wrote 937; 13 to 16 write 1300; 17 writes 1700, and later majors follow (the leading
  // fields read here have not moved since 9.3). Anything below, or absurdly large, is not a pg_control.
  if (version < 937 || version > 9999) throw new Error(`pg_control version ${version} is not one this reader knows (937 to 9999)`);
  const stateCode = file.readUInt32LE(16);
  const state = DB_STATES[stateCode];
  if (state === undefined) throw new Error(`pg_control holds an unknown database state ${stateCode}`);
  return {
    version,
    state,
    checkpointLsn: file.readBigUInt64LE(32),
    redoLsn: file.readBigUInt64LE(40),
    timeline: file.readUInt32LE(48),
  };
}
