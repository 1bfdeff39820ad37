import type { EdgeHealthState } from '../status/agent-state.js';

/**
 * Counts what the agent met at its edges, for GET /health and /metrics. Counted where
 * the errors are already caught; nothing here changes what the agent decides.
 */
export class EdgeHealth {
  private state: EdgeHealthState = { etcdOk: true, lastEtcdOkAt: null, lastEtcdError: null, etcdErrors: 0, dockerErrors: 0 };

  /** Returns true when etcd was failing until now (the caller logs the recovery once). */
  etcdSucceeded(now: number): boolean {
    const recovered = !this.state.etcdOk;
    this.state = { ...this.state, etcdOk: true, lastEtcdOkAt: now, lastEtcdError: null };
    return recovered;
  }

  /** Returns true on the first failure after a success (the caller logs it once, not every tick). */
  etcdFailed(error: string): boolean {
    const first = this.state.etcdOk;
    this.state = { ...this.state, etcdOk: false, lastEtcdError: error, etcdErrors: this.state.etcdErrors + 1 };
    return first;
  }

  dockerFailed(): void {
    this.state = { ...this.state, dockerErrors: this.state.dockerErrors + 1 };
  }

  snapshot(): EdgeHealthState {
    return this.state;
  }
}
