// May a PgBouncer route still be written? The leader computes a route from the
// published primary its tick read, and writes it later: after a query for the
// database list, an admin connection, other changes in its queue; seconds when the
// old primary hangs. A leader deposed in between, or a promotion published by another
// agent meanwhile, would put back a route that the new leader has already replaced
// (and that the new leader's periodic check notices only later). So the route is
// checked once more right before the write, against etcd and the agent's leadership.

export interface PublishedRef {
  name: string;
  epoch: number;
}

export interface RouteWriteInput {
  /** The published primary the route was computed for. */
  route: PublishedRef;
  /** The published primary in etcd, read just before the write; 'unreadable' when the read failed. */
  current: PublishedRef | null | 'unreadable';
  /** Whether this agent still leads, by its own lease clock. */
  leads: boolean;
}

/** Null when the route may be written; else why not, as a person reads it in the log. */
export function staleRouteReason(input: RouteWriteInput): string | null {
  const { route, current } = input;
  const ours = `the route is for epoch ${route.epoch} (${route.name})`;
  if (!input.leads) return `this agent no longer leads; ${ours}`;
  if (current === 'unreadable') return `the published primary could not be read from etcd; ${ours}`;
  if (current === null) return `etcd publishes no primary; ${ours}`;
  if (current.epoch !== route.epoch || current.name !== route.name) return `etcd publishes epoch ${current.epoch} (${current.name}); ${ours}`;
  return null;
}
