import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearerAccepted, loadHttpSecurity } from '../../../src/http/security.js';
import { configProblemsOf as problems } from '../../support/config-problems.js';

// The HTTP API's bearer token check and the loading of its TLS material, without a server.

const TOKEN = 'a-token-of-32-characters-exactly';

describe('bearerAccepted', () => {
  it.each([
    ['the right token', `Bearer ${TOKEN}`, true],
    ['the scheme in any case (RFC 6750)', `bearer ${TOKEN}`, true],
    ['no Authorization header', undefined, false],
    ['an empty header', '', false],
    ['a wrong token of the same length', `Bearer ${'x'.repeat(TOKEN.length)}`, false],
    ['a wrong token of another length', 'Bearer short', false],
    ['the token with a character more', `Bearer ${TOKEN}x`, false],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`, false],
    ['another scheme carrying the token', `Basic ${TOKEN}`, false],
    ['the token without a scheme', TOKEN, false],
    ['the scheme alone', 'Bearer ', false],
  ])('%s', (_name, header, accepted) => {
    expect(bearerAccepted(header, TOKEN)).toBe(accepted);
  });
});

describe('loadHttpSecurity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-http-security-'));
  const tls = join(dir, 'tls');
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  beforeAll(() => {
    const script = resolve(__dirname, '../../../scripts/tls');
    execFileSync(script, ['ca', tls]);
    execFileSync(script, ['server', tls, 'agent', '127.0.0.1', 'localhost']);
    execFileSync(script, ['server', tls, 'other', 'localhost']);
  });

  it('nothing configured: plain HTTP, no token', () => {
    expect(loadHttpSecurity({}, {})).toEqual({ tls: null, token: null });
  });

  it('reads the certificate, key and client CA files at start', () => {
    const security = loadHttpSecurity({ tls: { cert: join(tls, 'agent.crt'), key: join(tls, 'agent.key'), clientCa: join(tls, 'ca.crt') } }, {});
    expect(security.tls?.cert.toString()).toBe(readFileSync(join(tls, 'agent.crt'), 'utf8'));
    expect(security.tls?.key.toString()).toBe(readFileSync(join(tls, 'agent.key'), 'utf8'));
    expect(security.tls?.clientCa?.toString()).toBe(readFileSync(join(tls, 'ca.crt'), 'utf8'));
    expect(loadHttpSecurity({ tls: { cert: join(tls, 'agent.crt'), key: join(tls, 'agent.key') } }, {}).tls?.clientCa).toBeUndefined();
  });

  it('reads the token from a file (trimmed) or from the environment', () => {
    expect(loadHttpSecurity({ tokenFile: file('token', `${TOKEN}\n`) }, {}).token).toBe(TOKEN);
    expect(loadHttpSecurity({ tokenEnv: 'HTTP_TOKEN' }, { HTTP_TOKEN: ` ${TOKEN} ` }).token).toBe(TOKEN);
  });

  it.each([
    ['a missing certificate file', () => ({ tls: { cert: join(dir, 'nope.crt'), key: join(tls, 'agent.key') } }), {}, `config: http.tls.cert: cannot read ${join(dir, 'nope.crt')}: ENOENT`],
    ['a missing key file', () => ({ tls: { cert: join(tls, 'agent.crt'), key: join(dir, 'nope.key') } }), {}, `config: http.tls.key: cannot read ${join(dir, 'nope.key')}: ENOENT`],
    ['a missing client CA file', () => ({ tls: { cert: join(tls, 'agent.crt'), key: join(tls, 'agent.key'), clientCa: join(dir, 'nope-ca.crt') } }), {}, `config: http.tls.clientCa: cannot read ${join(dir, 'nope-ca.crt')}: ENOENT`],
    ['a directory as the certificate', () => ({ tls: { cert: dir, key: join(tls, 'agent.key') } }), {}, `config: http.tls.cert: cannot read ${dir}: EISDIR`],
    ['a missing token file', () => ({ tokenFile: join(dir, 'nope-token') }), {}, `config: http.tokenFile: cannot read ${join(dir, 'nope-token')}: ENOENT`],
    ['an empty token file', () => ({ tokenFile: file('empty-token', '\n') }), {}, `config: http.tokenFile: ${join(dir, 'empty-token')} is empty`],
    ['a token variable that is not set', () => ({ tokenEnv: 'HTTP_TOKEN' }), {}, 'config: http.tokenEnv: environment variable HTTP_TOKEN is not set'],
    ['a token variable that is blank', () => ({ tokenEnv: 'HTTP_TOKEN' }), { HTTP_TOKEN: '  ' }, 'config: http.tokenEnv: environment variable HTTP_TOKEN is not set'],
  ])('refuses %s with one line naming it', (_name, config, env, line) => {
    expect(problems(() => loadHttpSecurity(config(), env))).toEqual([line]);
  });

  it.each([
    ['a certificate that is not PEM', () => ({ cert: file('junk.crt', 'not a certificate\n'), key: join(tls, 'agent.key') }), /^config: http\.tls: the certificate .*junk\.crt and key .*agent\.key do not load: /],
    ['a key that does not match the certificate', () => ({ cert: join(tls, 'agent.crt'), key: join(tls, 'other.key') }), /^config: http\.tls: the certificate .*agent\.crt and key .*other\.key do not load: .*(mismatch|does not match)/],
    ['a client CA that is not PEM', () => ({ cert: join(tls, 'agent.crt'), key: join(tls, 'agent.key'), clientCa: file('junk-ca.crt', 'junk\n') }), /^config: http\.tls\.clientCa: .*junk-ca\.crt is not a PEM certificate/],
  ])('refuses %s with one line naming the files', (_name, tlsConfig, line) => {
    const found = problems(() => loadHttpSecurity({ tls: tlsConfig() }, {}));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(line);
    expect(found[0]).not.toContain('\n');
  });

  it('never repeats the token in an error', () => {
    const found = problems(() => loadHttpSecurity({ tokenFile: file('token-2', TOKEN), tls: { cert: join(dir, 'nope.crt'), key: join(tls, 'agent.key') } }, {}));
    expect(found.join(' ')).not.toContain(TOKEN);
  });
});
