import { describe, expect, it } from 'vitest';
import { setDotenvValues } from '../../../src/hooks/dotenv.js';

const to = { DB_HOST: 'pgsql-replica-1', DB_PORT: '5433' };

describe('setDotenvValues', () => {
  const cases: Array<{ name: string; before: string; after: string }> = [
    {
      name: 'present: replaced in place, every other line kept',
      before: 'APP_NAME=Laravel\n# database\nDB_CONNECTION=pgsql\nDB_HOST=pgsql\nDB_PORT=5432\nDB_DATABASE=app\n',
      after: 'APP_NAME=Laravel\n# database\nDB_CONNECTION=pgsql\nDB_HOST=pgsql-replica-1\nDB_PORT=5433\nDB_DATABASE=app\n',
    },
    {
      name: 'absent: added after the last DB_ line',
      before: 'APP_NAME=Laravel\nDB_CONNECTION=pgsql\nDB_DATABASE=app\n\nREDIS_HOST=redis\n',
      after: 'APP_NAME=Laravel\nDB_CONNECTION=pgsql\nDB_DATABASE=app\nDB_HOST=pgsql-replica-1\nDB_PORT=5433\n\nREDIS_HOST=redis\n',
    },
    {
      name: 'one present, one absent: the absent one goes after the last DB_ line',
      before: 'DB_CONNECTION=pgsql\nDB_HOST=pgsql\nDB_DATABASE=app\nAPP_ENV=local\n',
      after: 'DB_CONNECTION=pgsql\nDB_HOST=pgsql-replica-1\nDB_DATABASE=app\nDB_PORT=5433\nAPP_ENV=local\n',
    },
    {
      name: 'no DB_ line at all: appended, after a final line without newline',
      before: 'APP_NAME=Laravel',
      after: 'APP_NAME=Laravel\nDB_HOST=pgsql-replica-1\nDB_PORT=5433\n',
    },
    { name: 'empty file', before: '', after: 'DB_HOST=pgsql-replica-1\nDB_PORT=5433\n' },
    {
      name: 'quoted values keep their quotes',
      before: 'DB_HOST="pgsql"\nDB_PORT=\'5432\'\n',
      after: 'DB_HOST="pgsql-replica-1"\nDB_PORT=\'5433\'\n',
    },
    {
      name: 'CRLF stays CRLF, also for added lines',
      before: 'APP_NAME=Laravel\r\nDB_CONNECTION=pgsql\r\nDB_HOST=pgsql\r\n',
      after: 'APP_NAME=Laravel\r\nDB_CONNECTION=pgsql\r\nDB_HOST=pgsql-replica-1\r\nDB_PORT=5433\r\n',
    },
    {
      name: 'commented-out keys are comments: untouched, and the key counts as absent',
      before: '#DB_HOST=old\n# DB_PORT=1\nDB_CONNECTION=pgsql\n',
      after: '#DB_HOST=old\n# DB_PORT=1\nDB_CONNECTION=pgsql\nDB_HOST=pgsql-replica-1\nDB_PORT=5433\n',
    },
    {
      name: 'a trailing comment on an unquoted value is kept',
      before: 'DB_HOST=pgsql # the writer\nDB_PORT=5432\t# default\n',
      after: 'DB_HOST=pgsql-replica-1 # the writer\nDB_PORT=5433\t# default\n',
    },
    {
      name: 'keys that merely start with DB_HOST/DB_PORT are untouched',
      before: 'DB_HOST_READ=pgsql-replica-2\nDB_PORT_READ=5434\nDB_HOST=pgsql\nDB_PORT=5432\nMY_DB_HOST=x\n',
      after: 'DB_HOST_READ=pgsql-replica-2\nDB_PORT_READ=5434\nDB_HOST=pgsql-replica-1\nDB_PORT=5433\nMY_DB_HOST=x\n',
    },
    {
      name: 'export prefix, indentation and spaces around = are kept',
      before: '  export DB_HOST = pgsql\nDB_PORT= 5432\n',
      after: '  export DB_HOST = pgsql-replica-1\nDB_PORT= 5433\n',
    },
    {
      name: 'a key set twice: both rewritten (dotenv readers differ on which wins)',
      before: 'DB_HOST=a\nDB_PORT=1\nDB_HOST=b\n',
      after: 'DB_HOST=pgsql-replica-1\nDB_PORT=5433\nDB_HOST=pgsql-replica-1\n',
    },
    {
      name: 'empty values are filled',
      before: 'DB_HOST=\nDB_PORT=\n',
      after: 'DB_HOST=pgsql-replica-1\nDB_PORT=5433\n',
    },
    {
      name: 'already right: unchanged',
      before: 'DB_HOST=pgsql-replica-1\nDB_PORT=5433',
      after: 'DB_HOST=pgsql-replica-1\nDB_PORT=5433',
    },
  ];

  it.each(cases)('$name', ({ before, after }) => {
    expect(setDotenvValues(before, to)).toBe(after);
  });

  it('is idempotent', () => {
    for (const { before } of cases) {
      const once = setDotenvValues(before, to);
      expect(setDotenvValues(once, to)).toBe(once);
    }
  });

  it('keeps every byte of the lines it does not own (unicode, blank lines, odd spacing)', () => {
    const others = 'APP_KEY=base64:ÄÖü==\n\n\n   \nMAIL_FROM_NAME="${APP_NAME}"\n';
    expect(setDotenvValues(`${others}DB_HOST=x\nDB_PORT=1\n`, to)).toBe(`${others}DB_HOST=pgsql-replica-1\nDB_PORT=5433\n`);
  });

  it.each([
    ['a newline and a line of its own', 'db\nAPP_KEY=stolen'],
    ['a carriage return', 'db\r'],
    ['a quote that would end a quoted value', 'db"'],
    ['a comment', 'db #x'],
    ['a variable to expand', '${APP_KEY}'],
  ])('refuses a value with %s: it is written into the file as it is (issue 15)', (_what, value) => {
    expect(() => setDotenvValues('DB_HOST=pgsql\n', { DB_HOST: value })).toThrow(/not a plain value/);
  });
});
