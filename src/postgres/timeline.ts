/**
 * The server's current timeline as an SQL expression: the first 8 hex digits of the
 * current WAL file's name. pg_control_checkpoint() would lag until the next checkpoint
 * after a promotion. Valid on a primary only (pg_current_wal_lsn() fails in recovery).
 */
export const CURRENT_TIMELINE_SQL = `('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int`;

/** The name PostgreSQL gives a timeline's history file: 8 upper-case hex digits (timeline 29: 0000001D.history). */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/**
 * The history file of `timeline` as the server holds it (pg_wal/<name>), read over SQL
 * (pg_read_file: a superuser's connection). Timeline 1 has none: ''.
 */
export function timelineHistorySql(timeline: number): { text: string; values: unknown[] } {
  return {
    text: `SELECT CASE WHEN $1::int = 1 THEN '' ELSE pg_read_file('pg_wal/' || $2::text) END AS history`,
    values: [timeline, historyFileName(timeline)],
  };
}
