import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcd } from '../../src/dcs/client.js';
import { keysFor } from '../../src/dcs/keys.js';
import { ClusterStore, type PromoteRequest } from '../../src/dcs/store.js';
import { startCluster, type TestCluster } from '../support/cluster.js';

// A promote request in etcd, filed and withdrawn by the CLI: each in one transaction,
// so `failover promote` never says "nothing was changed" while a leader carries it out.
describe('promote requests in etcd', () => {
  let cluster: TestCluster;
  let store: ClusterStore;
  const request = (id: string): PromoteRequest => ({ id, target: 'replica-1', force: false, at: '2026-11-29T10:00:00.000Z', by: 'test@host' });

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 0 });
    store = new ClusterStore(createEtcd({ endpoints: [cluster.etcdUrl!], callTimeoutMs: 2000 }), keysFor('/pg-failover', `t${cluster.runId}`));
  });
  afterAll(async () => {
    store?.etcd.close();
    await cluster?.stop();
  });

  it('a request nobody took is withdrawn, and nothing is left', async () => {
    expect(await store.fileRequest(request('a'))).toBe(true);
    expect(await store.withdrawRequest(request('a'))).toBe(true);
    expect(await store.request()).toBeNull();
  });

  it('a request a leader already took is not withdrawn: the CLI must not say nothing changed', async () => {
    expect(await store.fileRequest(request('b'))).toBe(true);
    // What the leader does when it accepts: the request goes, the journal comes, in one transaction.
    await store.etcd.if(store.keys.request, 'Create', '>', 0).then(store.etcd.delete().key(store.keys.request), store.etcd.put(store.keys.journal).value('{"id":"b"}')).commit();
    expect(await store.withdrawRequest(request('b'))).toBe(false);
    await store.etcd.delete().key(store.keys.journal);
  });

  it("another operator's request is never withdrawn by this one", async () => {
    expect(await store.fileRequest(request('c'))).toBe(true);
    expect(await store.withdrawRequest(request('d'))).toBe(false);
    expect((await store.request())?.id).toBe('c');
    expect(await store.withdrawRequest(request('c'))).toBe(true);
  });

  it('a second request while one is pending, or while an operation runs, is not filed', async () => {
    expect(await store.fileRequest(request('e'))).toBe(true);
    expect(await store.fileRequest(request('f'))).toBe(false);
    expect(await store.withdrawRequest(request('e'))).toBe(true);
    await store.etcd.put(store.keys.journal).value('{"id":"op"}');
    expect(await store.fileRequest(request('g'))).toBe(false);
    await store.etcd.delete().key(store.keys.journal);
  });
});
