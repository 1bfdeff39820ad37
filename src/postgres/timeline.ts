/**
 * The server's current timeline as an SQL expression: the first 8 hex digits of the
 * current WAL file's name. pg_control_checkpoint() would lag until the next checkpoint
 * after a promotion. Valid on a primary only (pg_current_wal_lsn() fails in recovery).
 */
export const CURRENT_TIMELINE_SQL = `('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int`;
