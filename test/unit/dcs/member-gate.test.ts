import { describe, expect, it } from 'vitest';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { MemberDown, MemberGate, memberUnreachable } from '../../../src/dcs/member-gate.js';
import { retriesOnAnotherMember } from '../../../src/dcs/client.js';
import { eventually } from '../../support/eventually.js';


describe('etcd member gate', () => {
  it.each([
    [new GRPCUnavailableError('14 UNAVAILABLE: No connection established'), true, true],
    [new GRPCUnavailableError('14 UNAVAILABLE: Name resolution failed for target dns:etcd-2:2379'), true, true],
    [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded after 1.0s'), true, false],
    [new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: no leader'), false, true],
    [new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: request timed out'), false, false],
    // May come after the member applied the write: never sent a second time.
    [new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped'), true, false],
    [new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: server stopped'), false, false],
    [new MemberDown('etcd-2 is down'), false, true],
    [new Error('etcdserver: requested lease not found'), false, false],
  ])('%s: member unreachable %s, sent to another member %s', (error, unreachable, retried) => {
    expect(memberUnreachable(error)).toBe(unreachable);
    expect(retriesOnAnotherMember(error)).toBe(retried);
  });

  it('passes a member over without calling it once it did not answer, until the probe reaches it', async () => {
    let up = false;
    let probes = 0;
    const gate = new MemberGate('http://etcd-2:2379', 10, async () => {
      probes += 1;
      return up;
    });
    await expect(gate.execute(() => 'ok')).resolves.toBe('ok');
    await expect(gate.execute(() => Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: No connection established')))).rejects.toBeInstanceOf(GRPCUnavailableError);
    let called = false;
    await expect(
      gate.execute(() => {
        called = true;
        return 'ok';
      }),
    ).rejects.toBeInstanceOf(MemberDown);
    expect(called).toBe(false);
    // Probed and still unreachable: the member stays passed over.
    await eventually(async () => probes >= 2, 'two probes of the down member', 2000, 5);
    expect(gate.isDown).toBe(true);
    up = true;
    await eventually(async () => !gate.isDown, 'the member let back in after a successful probe', 2000, 5);
    await expect(gate.execute(() => 'ok')).resolves.toBe('ok');
  });

  it('an answer from etcd itself (no leader) does not take the member out', async () => {
    const gate = new MemberGate('http://etcd:2379', 10, async () => true);
    await expect(gate.execute(() => Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: no leader')))).rejects.toThrow();
    expect(gate.isDown).toBe(false);
  });
});
