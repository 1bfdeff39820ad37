import { describe, expect, it } from 'vitest';
import { toProbe } from '../../../src/postgres/probe.js';

const standby = {
  in_recovery: true,
  current_lsn: null,
  wal_tli: null,
  receive_lsn: '0/3000000',
  replay_lsn: '0/3000000',
  checkpoint_tli: 1,
  receiver_status: null,
  received_tli: null,
  sender_host: null,
  receipt_age_ms: null,
  replay_lag_ms: '0',
  segment_tli: null,
};

describe('toProbe: the timeline a standby reports', () => {
  it('is the timeline it receives on while its WAL receiver runs', () => {
    expect(toProbe({ ...standby, receiver_status: 'streaming', received_tli: 2 }).timeline).toBe(2);
  });

  // Issue 12 item 1: the checkpoint's timeline moves only at the next restartpoint. A standby
  // that followed the new primary and lost it (receiver gone, so no received_tli) must not look
  // as if it were still on the old timeline, or the candidate rule would refuse it.
  it('without a WAL receiver, is the newest timeline of the WAL segments it holds', () => {
    expect(toProbe({ ...standby, checkpoint_tli: 1, segment_tli: 2 }).timeline).toBe(2);
  });

  it('falls back to the checkpoint timeline when pg_wal holds no segment name it knows', () => {
    expect(toProbe({ ...standby, checkpoint_tli: 3, segment_tli: null }).timeline).toBe(3);
  });

  it('a primary reports the timeline it writes on', () => {
    expect(toProbe({ ...standby, in_recovery: false, current_lsn: '0/5000000', wal_tli: 4, checkpoint_tli: 3, segment_tli: null }).timeline).toBe(4);
  });
});
