#!/usr/bin/env node
// The lab's etcd locked down (issue 15): users, roles, then authentication on.
// Run by scripts/lab-up after the etcd members answer; idempotent. Reads the passwords
// from .lab/secrets (never from its arguments) and reaches etcd with the lab's client
// certificate. Usage: node scripts/etcd-lockdown.mjs <config> <secrets-dir>
// gRPC's TLS to 127.0.0.1 triggers Node's DEP0123 warning on each connection: noise here.
process.noDeprecation = true;
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyAccessPlan } from '../dist/dcs/access-control.js';
import { createEtcd } from '../dist/dcs/client.js';
import { loadConfig } from '../dist/config/load.js';

const [configFile, secrets] = process.argv.slice(2);
if (!configFile || !secrets) {
  console.error('usage: node scripts/etcd-lockdown.mjs <config> <secrets-dir>');
  process.exit(2);
}
const config = loadConfig({ file: configFile }, {});
const secret = (name) => readFileSync(join(secrets, name), 'utf8').trim();
const plan = {
  prefix: config.etcd.prefix,
  cluster: config.cluster,
  rootPassword: secret('etcd-root-password'),
  agent: { user: config.etcd.user, password: secret('etcd-agent-password') },
  reader: { user: config.etcd.reader.user, password: secret('etcd-reader-password') },
};
const endpoints = [config.etcd.endpoints[0]];
const tls = { endpoints, callTimeoutMs: 5000, cacert: config.etcd.cacert, cert: config.etcd.cert, key: config.etcd.key };

async function attempt(asRoot) {
  const etcd = createEtcd(asRoot ? { ...tls, user: 'root', passwordFile: join(secrets, 'etcd-root-password') } : tls);
  try {
    await applyAccessPlan(etcd, plan);
  } finally {
    etcd.close();
  }
}

try {
  // A fresh etcd has no auth yet; a locked one refuses the anonymous client: then as root.
  await attempt(false).catch((error) => {
    if (!/user name is empty|user name not found|permission denied|authentication|invalid auth/i.test(String(error?.message))) throw error;
    return attempt(true);
  });
  console.error(`lab: etcd locked down: users ${plan.agent.user} (read-write on ${plan.prefix}/${plan.cluster}/) and ${plan.reader.user} (read-only), authentication on`);
} catch (error) {
  const message = String(error?.message ?? error).split('\n')[0];
  if (/authentication failed/.test(message)) {
    console.error('lab: etcd refuses the root password in .env (ETCD_ROOT_PASSWORD): its data was locked with another one; restore it, or start over with npm run lab:down -- --wipe');
    process.exit(1);
  }
  console.error(`lab: locking etcd down failed: ${message}`);
  process.exit(1);
}
