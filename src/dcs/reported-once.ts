/** A problem with one etcd key, as the snapshot names it. */
export interface KeyProblem {
  key: string;
  problem: string;
}

/**
 * Which problems are new: a bad value is logged once, not on every tick that reads it.
 * A problem that is gone (the value repaired or removed) is forgotten, so the same value
 * written again is reported again.
 */
export class ReportedOnce {
  private reported = new Set<string>();

  fresh(current: readonly KeyProblem[]): KeyProblem[] {
    const id = (p: KeyProblem) => `${p.key}\u0000${p.problem}`;
    const fresh = current.filter((p) => !this.reported.has(id(p)));
    this.reported = new Set(current.map(id));
    return fresh;
  }
}
