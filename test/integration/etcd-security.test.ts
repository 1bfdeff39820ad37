import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcd, etcdSecurity } from '../../src/dcs/client.js';
import { keysFor } from '../../src/dcs/keys.js';
import { ClusterStore } from '../../src/dcs/store.js';
import { startSecureEtcd, type SecureEtcd } from '../support/secure-etcd.js';

// Issue 15, item 1 and the attacks of item 7: the locked-down etcd refuses a client
// without the CA's client certificate, a client without a login, a wrong password; the
// read-only login cannot write; the agents' login reaches its own cluster's keys only.

describe('a locked-down etcd (TLS, client certificates, users and roles)', () => {
  let etcd: SecureEtcd;
  const clients: Etcd3[] = [];
  const client = (options: Parameters<typeof createEtcd>[0]) => {
    const c = createEtcd(options);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    etcd = await startSecureEtcd('main');
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  it('the agents login writes and reads its own cluster, as the store does', async () => {
    const store = new ClusterStore(client(etcd.options('agent')), keysFor('/pg-failover', 'main'));
    await store.setPaused({ since: new Date().toISOString(), by: 'drill' });
    expect(JSON.parse(await client(etcd.options('agent')).get('/pg-failover/main/paused').string() ?? 'null')).toMatchObject({ by: 'drill' });
  });

  it('a client without a client certificate is refused at the TLS handshake', async () => {
    const anonymous = client(etcd.options('agent', { cert: undefined, key: undefined }));
    await expect(anonymous.get('/pg-failover/main/paused').string()).rejects.toThrow();
  });

  it('a client without the CA (plain http) does not reach it', async () => {
    const plain = new Etcd3({ hosts: [etcd.url.replace('https://', 'http://')], defaultCallOptions: () => ({ deadline: Date.now() + 2000 }) });
    clients.push(plain);
    await expect(plain.get('/pg-failover/main/paused').string()).rejects.toThrow();
  });

  it('a certificate without a login is refused: the certificate alone names no user', async () => {
    await expect(client(etcd.options('none')).get('/pg-failover/main/paused').string()).rejects.toThrow(/permission denied|user name not found/);
  });

  it('a wrong password is refused', async () => {
    const wrong = new Etcd3({
      hosts: [etcd.url],
      credentials: etcdSecurity(etcd.options('none')).credentials!,
      auth: { username: 'pgf-agent', password: 'not-the-password' },
      defaultCallOptions: () => ({ deadline: Date.now() + 3000 }),
    });
    clients.push(wrong);
    await expect(wrong.get('/pg-failover/main/paused').string()).rejects.toThrow(/authentication failed/);
  });

  it('the read-only login reads the cluster and cannot write, pause, or file a promote', async () => {
    const reader = client(etcd.options('reader'));
    await expect(reader.get('/pg-failover/main/paused').string()).resolves.toContain('drill');
    await expect(reader.put('/pg-failover/main/paused').value('{}')).rejects.toThrow(/permission denied/);
    await expect(reader.put('/pg-failover/main/request').value('{}')).rejects.toThrow(/permission denied/);
    await expect(reader.delete().key('/pg-failover/main/paused')).rejects.toThrow(/permission denied/);
  });

  it("the agents' login cannot touch another cluster, keys outside the prefix, or etcd's users", async () => {
    const agent = client(etcd.options('agent'));
    await expect(agent.put('/pg-failover/other/primary').value('{}')).rejects.toThrow(/permission denied/);
    await expect(agent.get('/pg-failover/other/primary').string()).rejects.toThrow(/permission denied/);
    await expect(agent.put('/elsewhere').value('x')).rejects.toThrow(/permission denied/);
    await expect(agent.user('intruder').create('pw')).rejects.toThrow(/permission denied/);
    await expect(agent.auth.authDisable()).rejects.toThrow(/permission denied/);
  });
});
