import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { etcdSecurity } from '../../../src/dcs/client.js';

const node = [{ name: 'a', container: 'a', host: 'a' }];
const problems = (etcd: object) => {
  const parsed = configSchema.safeParse({ etcd, nodes: node });
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('the etcd section (issue 15)', () => {
  it('a CA or client certificate needs https endpoints', () => {
    expect(problems({ endpoints: ['http://127.0.0.1:2379'], cacert: 'ca.crt' })).toEqual(['etcd.endpoints.0: with cacert or a client certificate, etcd endpoints must be https://host:port']);
    expect(problems({ endpoints: ['https://127.0.0.1:2379'], cacert: 'ca.crt' })).toEqual([]);
  });
  it('cert and key come together', () => {
    expect(problems({ endpoints: ['https://e:2379'], cert: 'c.crt' })).toEqual(['etcd.key: give cert and key together (the client certificate and its key)']);
  });
  it('a user needs a password source, and a password needs its user', () => {
    expect(problems({ endpoints: ['https://e:2379'], user: 'pgf-agent' })).toEqual(['etcd.passwordFile: give passwordFile or passwordEnv for the etcd user']);
    expect(problems({ passwordFile: 'p' })).toEqual(['etcd.user: a password needs the etcd user it belongs to']);
  });
  it('a login over plain http is refused: its password would travel in clear', () => {
    expect(problems({ endpoints: ['http://e:2379'], user: 'pgf-agent', passwordFile: 'p' })).toEqual(['etcd.endpoints.0: an etcd login sends its password: etcd endpoints must be https://host:port']);
  });
  it('the reader login needs a password source too', () => {
    expect(problems({ reader: { user: 'r' } })).toEqual(['etcd.reader: give passwordEnv or passwordFile']);
  });
});

describe('etcdSecurity: which login and which files a client uses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-etcd-sec-'));
  for (const [file, text] of Object.entries({ 'ca.crt': 'CA', 'c.crt': 'CERT', 'c.key': 'KEY', agent: 'agent-pw\n', reader: 'reader-pw' })) writeFileSync(join(dir, file), text);
  const options = {
    endpoints: ['https://e:2379'],
    callTimeoutMs: 1000,
    cacert: join(dir, 'ca.crt'),
    cert: join(dir, 'c.crt'),
    key: join(dir, 'c.key'),
    user: 'pgf-agent',
    passwordFile: join(dir, 'agent'),
    reader: { user: 'pgf-reader', passwordFile: join(dir, 'reader') },
  };

  it('the agent login by default, with the client certificate', () => {
    const security = etcdSecurity(options);
    expect(security.auth).toEqual({ username: 'pgf-agent', password: 'agent-pw' });
    expect(security.credentials?.rootCertificate.toString()).toBe('CA');
    expect(security.credentials?.certChain?.toString()).toBe('CERT');
    expect(security.credentials?.privateKey?.toString()).toBe('KEY');
  });
  it('the read-only login for reading commands, when the config has one', () => {
    expect(etcdSecurity(options, 'reader').auth).toEqual({ username: 'pgf-reader', password: 'reader-pw' });
    expect(etcdSecurity({ ...options, reader: undefined }, 'reader').auth?.username).toBe('pgf-agent');
  });
  it('no TLS and no login for a plain etcd', () => {
    expect(etcdSecurity({ endpoints: ['http://e:2379'], callTimeoutMs: 1000 })).toEqual({});
  });
  it('an unreadable certificate is one line naming the field and the path', () => {
    expect(() => etcdSecurity({ ...options, cacert: join(dir, 'missing.crt') })).toThrow(`config: etcd.cacert: cannot read ${join(dir, 'missing.crt')} (ENOENT)`);
  });
});
