// The etcd key layout of one cluster. `primary` and `history/<epoch>` are public
// contracts (DESIGN.md); the rest is documented in docs/design.md, section "etcd keys".
export interface Keys {
  root: string;
  primary: string;
  leader: string;
  agentsPrefix: string;
  agent(id: string): string;
  historyPrefix: string;
  history(epoch: number): string;
  journal: string;
  paused: string;
  request: string;
  requestResult(id: string): string;
  verdict: string;
  /** The recorded synchronous set (public contract, DESIGN.md; issue 13). */
  sync: string;
  /** One node's rejoin in progress or last finished (issue 14): `rejoins/<node>`. */
  rejoin(node: string): string;
  /** The backup catalogue (issue 16): `backups/<kind>/<id>`, one record per dump, full or diff run. */
  backupsPrefix: string;
  backup(kind: string, id: string): string;
  /** Held (with a lease) by whoever takes a backup, so that two never run at once. */
  backupLock: string;
}

export function keysFor(prefix: string, cluster: string): Keys {
  const root = `${prefix}/${cluster}`;
  return {
    root,
    primary: `${root}/primary`,
    leader: `${root}/leader`,
    agentsPrefix: `${root}/agents/`,
    agent: (id) => `${root}/agents/${id}`,
    historyPrefix: `${root}/history/`,
    history: (epoch) => `${root}/history/${epoch}`,
    journal: `${root}/journal`,
    paused: `${root}/paused`,
    request: `${root}/request`,
    requestResult: (id) => `${root}/results/${id}`,
    verdict: `${root}/verdict`,
    sync: `${root}/sync`,
    rejoin: (node) => `${root}/rejoins/${node}`,
    backupsPrefix: `${root}/backups/`,
    backup: (kind, id) => `${root}/backups/${kind}/${id}`,
    backupLock: `${root}/backup-lock`,
  };
}
