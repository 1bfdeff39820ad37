import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = new URL('../../scripts/tls', import.meta.url).pathname;

/** A throw-away CA made by scripts/tls (openssl), as the lab makes its own. */
export interface TestCa {
  dir: string;
  /** Path of the CA certificate. */
  caFile: string;
  ca: string;
  /** A server certificate and key for `sans` (DNS names or IPv4 addresses), as PEM. */
  server(name: string, ...sans: string[]): { cert: string; key: string; certFile: string; keyFile: string };
}

export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'pgf-ca-'));
  execFileSync(SCRIPT, ['ca', dir], { stdio: 'pipe' });
  const caFile = join(dir, 'ca.crt');
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    server(name, ...sans) {
      execFileSync(SCRIPT, ['server', dir, name, ...sans], { stdio: 'pipe' });
      const certFile = join(dir, `${name}.crt`);
      const keyFile = join(dir, `${name}.key`);
      return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
    },
  };
}
