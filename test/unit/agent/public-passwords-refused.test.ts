import type { Etcd3 } from 'etcd3';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ClusterContext } from '../../../src/agent/cluster-context.js';
import { ConfigError } from '../../../src/config/load.js';
import { configSchema } from '../../../src/config/schema.js';

// An agent refuses to start with one of the lab's former public passwords (issue 15),
// unless its config marks a throw-away lab.
const config = (extra: object = {}) => configSchema.parse({ nodes: [{ name: 'a', container: 'a', host: 'a' }], ...extra });
const noEtcd = {} as Etcd3;
const log = pino({ level: 'silent' });

describe('an agent and the former public lab passwords', () => {
  it('refuses the former superuser password, naming the role only', () => {
    const start = () => new ClusterContext(config(), noEtcd, log, { POSTGRES_PASSWORD: 'lab-postgres-secret', REPLICATION_PASSWORD: 'f00d' });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(/password of superuser postgres is one of the lab's former public passwords/);
  });
  it('refuses the former replication password', () => {
    expect(() => new ClusterContext(config(), noEtcd, log, { POSTGRES_PASSWORD: 'f00d', REPLICATION_PASSWORD: 'lab-replication-secret' })).toThrow(/replication user replicator/);
  });
  it('starts with random passwords, or in a lab marked allowPublicLabPasswords', () => {
    expect(() => new ClusterContext(config(), noEtcd, log, { POSTGRES_PASSWORD: 'f00d', REPLICATION_PASSWORD: 'beef' })).not.toThrow();
    expect(() => new ClusterContext(config({ allowPublicLabPasswords: true }), noEtcd, log, { POSTGRES_PASSWORD: 'lab-postgres-secret', REPLICATION_PASSWORD: 'beef' })).not.toThrow();
  });
});
