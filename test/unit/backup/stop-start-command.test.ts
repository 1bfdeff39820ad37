import { describe, expect, it } from 'vitest';
import { backupSchema } from '../../../src/config/backup-schema.js';
import { pgbackrestCommand, stopStartCommand } from '../../../src/backup/pgbackrest.js';

// pgBackRest 2.45 refuses repository and data directory options on `stop` and `start` (error 31,
// "option 'repo-path' not valid for command 'stop'"): a stop of a timed-out backup built like
// every other command did nothing at all.

const edges = { cluster: 'main', backup: backupSchema.parse({}) };

describe('pgbackrest stop and start', () => {
  it('name the stanza only (stop with --force), no repository or data directory', () => {
    expect(stopStartCommand(edges, 'stop')).toEqual(['pgbackrest', '--stanza=main', '--force', 'stop']);
    expect(stopStartCommand(edges, 'start')).toEqual(['pgbackrest', '--stanza=main', 'start']);
    for (const command of [stopStartCommand(edges, 'stop'), stopStartCommand(edges, 'start')]) expect(command.filter((a) => /^--(repo|pg)\d*-/.test(a))).toEqual([]);
  });

  it('while every other command names the repository', () => {
    expect(pgbackrestCommand(edges, 'check')).toContain('--repo1-path=/backups/pgbackrest');
  });
});
