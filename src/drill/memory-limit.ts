/**
 * The memory limit of `oom-backend`, as numbers: pure, so that the arithmetic is tested
 * without a container. The drill sets it with Docker's update API on the running
 * primary, and takes it away again after the round.
 */

const MIB = 1024 * 1024;

/**
 * Room above what the container uses now. A backend's sort overruns it within seconds;
 * the idle backends, the walsenders and the shared buffers already touched stay within.
 */
export const OOM_HEADROOM_BYTES = 192 * MIB;
/** Below this a busy postmaster's own processes could be squeezed; Docker's minimum is 6 MB. */
export const OOM_MIN_LIMIT_BYTES = 256 * MIB;

/**
 * The limit for a container that uses `usageBytes` now: its usage plus the headroom, at
 * least the minimum, rounded up to a whole MiB. Memory and memory+swap are set to the
 * same value: no swap, so the limit is reached and the kernel OOM-kills instead of swapping.
 */
export function oomLimitFor(usageBytes: number): { Memory: number; MemorySwap: number } {
  const wanted = Math.max(OOM_MIN_LIMIT_BYTES, usageBytes + OOM_HEADROOM_BYTES);
  const limit = Math.ceil(wanted / MIB) * MIB;
  return { Memory: limit, MemorySwap: limit };
}

/**
 * The update that takes the limit away again. Docker's update cannot set it back to
 * "none": 0 means "leave it as it is", -1 is refused ("Minimum memory limit allowed is
 * 6MB"). A container that had no limit gets the engine's whole memory instead, which
 * limits nothing; memory and memory+swap move together, for the kernel refuses a memory
 * limit above the memory+swap one, whichever order the runtime writes them in.
 * A container that had its own limit gets it back as it was.
 */
export function oomLimitUndo(before: { Memory?: number; MemorySwap?: number }, engineMemoryBytes: number): { Memory: number; MemorySwap: number } {
  const memory = before.Memory ?? 0;
  if (memory > 0) {
    const swap = before.MemorySwap ?? 0;
    // Unset (0) or unlimited (-1) swap beside a limit: memory+swap no lower than the limit.
    return { Memory: memory, MemorySwap: swap > 0 ? swap : Math.max(memory, engineMemoryBytes) };
  }
  const whole = Math.ceil(engineMemoryBytes / MIB) * MIB;
  return { Memory: whole, MemorySwap: whole };
}
