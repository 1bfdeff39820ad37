// What a recorded operation step did, in words, for the event log. Pure.
import type { Journal, StepName } from './journal.js';

/** What a recorded step did, in words, for the event log. */
export function stepSentence(step: StepName, journal: Journal): string {
  switch (step) {
    case 'fence-old':
      return `${journal.from} fenced`;
    case 'stop-old':
      return `${journal.from} stopped cleanly${journal.targetLsn ? ` at ${journal.targetLsn}` : ''}`;
    case 'catch-up':
      return `${journal.to} replayed what it received${journal.targetLsn ? ` (${journal.targetLsn})` : ''}`;
    case 'promote':
      return `${journal.to} promoted`;
    case 'verify-write':
      return `${journal.to} took a write`;
    case 'publish':
      return `${journal.to} published as the primary of epoch ${journal.epoch}`;
    case 'rejoin-old':
      return `${journal.from} restarted as a standby of ${journal.to}`;
    case 'repoint-replicas':
      return 'the other replicas re-pointed';
    case 'fence-target':
      return journal.rollback?.targetPromoted ? `${journal.to} fenced: its promotion was attempted` : `${journal.to} left as it is: it was not promoted`;
    case 'restart-old':
      return `${journal.from} is the primary again`;
    case 'done':
      return 'done';
  }
}
