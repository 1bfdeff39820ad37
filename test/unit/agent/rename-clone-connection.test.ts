import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renameCloneConnection } from '../../../src/agent/node-ops.js';

// The rebuild's shell step, run by bash and sed as the helper container runs it, on what
// pg_basebackup -R writes. A rebuilt replica-2 streamed as "replica-2-basebackup": the name
// holds a dash, so pg_basebackup quoted it and the old pattern missed it (found by the
// double-failure drill in zero-loss mode: the new primary's commits waited for "replica-2").
function renamed(node: string, autoConf: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pgf-autoconf-')), 'postgresql.auto.conf');
  writeFileSync(file, autoConf);
  execFileSync('bash', ['-c', renameCloneConnection(node, file)]);
  return readFileSync(file, 'utf8');
}

describe('the rebuilt standby connects under its own name', () => {
  it('a name with a dash, which pg_basebackup -R quotes', () => {
    const line = "primary_conninfo = 'user=replicator host=''pgsql-replica-1'' port=5432 application_name=''replica-2-basebackup'' sslmode=prefer'\n";
    expect(renamed('replica-2', line)).toBe("primary_conninfo = 'user=replicator host=''pgsql-replica-1'' port=5432 application_name=''replica-2'' sslmode=prefer'\n");
  });

  it('a plain name, which it does not', () => {
    const line = "primary_conninfo = 'user=replicator host=''pgsql-replica-2'' port=5432 application_name=pgsql-basebackup sslmode=prefer'\n";
    expect(renamed('pgsql', line)).toBe("primary_conninfo = 'user=replicator host=''pgsql-replica-2'' port=5432 application_name=pgsql sslmode=prefer'\n");
  });

  it("another node's name is left alone", () => {
    const line = "primary_conninfo = 'application_name=''replica-1'''\nprimary_conninfo = 'application_name=''replica-2-basebackup'''\n";
    expect(renamed('replica-2', line)).toBe("primary_conninfo = 'application_name=''replica-1'''\nprimary_conninfo = 'application_name=''replica-2'''\n");
  });
});
