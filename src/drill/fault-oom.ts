import type pg from 'pg';
import { connect, discard } from '../postgres/connection.js';
import type { Fault, FaultTarget } from './faults.js';
import { oomLimitFor, oomLimitUndo } from './memory-limit.js';

/**
 * A query that outgrows any limit the drill sets: a sort of 50 million rows of text,
 * with work_mem raised so that PostgreSQL sorts in memory instead of spilling to disk
 * (it needs several GB). The kernel kills the biggest process of the container's
 * memory cgroup when the limit is reached: the backend running the sort, within seconds.
 */
const OOM_QUERY = 'SELECT count(*) FROM (SELECT g, md5(g::text) AS m FROM generate_series(1, 50000000) AS g ORDER BY m) AS sorted';
/** Should the limit never be reached, the query ends here, and the round fails saying so. */
const OOM_QUERY_LIMIT_MS = 120_000;

/**
 * oom-backend: a memory limit on the primary's running container (docker update: memory
 * and memory+swap alike) and a query that overruns it, so that the kernel OOM-kills one
 * backend while the postmaster lives on. PostgreSQL then ends every other backend and
 * runs crash recovery (a few hundred ms) on the same postmaster: no failover may follow,
 * and the same primary takes writes again. The limit is taken away again in the undo.
 */
export function oomBackend(target: FaultTarget): Fault {
  const { engine, container } = target;
  const handle = engine.getContainer(container);
  const detail: Record<string, string | number | null> = { memoryLimitMb: null, queryMs: null, queryError: null, oomEvent: null, postmasterPid: null, postmasterSurvived: null, memoryAfterMb: null };
  let before: { Memory?: number; MemorySwap?: number } | null = null;
  let struckAt: number | null = null;
  return {
    detail,
    outcome: 'same-primary',
    struckAt: () => struckAt,
    prepare: async () => {
      const info = await handle.inspect();
      before = { Memory: info.HostConfig.Memory, MemorySwap: info.HostConfig.MemorySwap };
      detail.postmasterPid = info.State.Pid;
      const stats = (await handle.stats({ stream: false })) as { memory_stats?: { usage?: number } };
      const limit = oomLimitFor(stats.memory_stats?.usage ?? 0);
      await handle.update(limit);
      detail.memoryLimitMb = Math.round(limit.Memory / 1024 / 1024);
    },
    inject: async () => {
      const began = Date.now();
      const client: pg.Client = await connect(target.round.access.endpoint(target.round.access.node(target.node)), {
        timeoutMs: 5000,
        queryTimeoutMs: OOM_QUERY_LIMIT_MS,
        applicationName: 'pg-failover-drill-oom',
      });
      try {
        await client.query("SET work_mem = '8GB'");
        await client.query(OOM_QUERY);
        throw new Error(`oom-backend: the query finished within the ${String(detail.memoryLimitMb)} MB limit: no backend was OOM-killed`);
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('oom-backend:')) throw error;
        struckAt = Date.now();
        detail.queryMs = struckAt - began;
        detail.queryError = error instanceof Error ? error.message : String(error);
      } finally {
        discard(client);
      }
      // The kernel's kill, as Docker reported it, and the postmaster's survival: the same process runs.
      detail.oomEvent = (await oomEventsSince(target, began)) > 0 ? 'yes' : 'no';
      const after = await handle.inspect();
      detail.postmasterSurvived = after.State.Running && after.State.Pid === detail.postmasterPid ? 'yes' : 'no';
      if (detail.oomEvent !== 'yes') throw new Error(`oom-backend: the query failed without an OOM kill (${String(detail.queryError)})`);
    },
    restore: async () => {
      if (!before) return;
      const info = (await engine.info()) as { MemTotal: number };
      const undo = oomLimitUndo(before, info.MemTotal);
      await handle.update(undo);
      detail.memoryAfterMb = Math.round(undo.Memory / 1024 / 1024);
      before = null;
    },
  };
}

/** Docker's `oom` events about the container since `sinceMs` (a bounded query: the stream ends at `until`). */
async function oomEventsSince(target: FaultTarget, sinceMs: number): Promise<number> {
  const stream = (await target.engine.getEvents({
    since: Math.floor(sinceMs / 1000),
    until: Math.ceil(Date.now() / 1000) + 1,
    filters: { type: ['container'], event: ['oom'], container: [target.container] },
  })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter((line) => line.trim().length > 0).length;
}
