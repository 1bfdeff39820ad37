import { describe, expect, it } from 'vitest';
import { OOM_HEADROOM_BYTES, OOM_MIN_LIMIT_BYTES, oomLimitFor, oomLimitUndo } from '../../../src/drill/memory-limit.js';

const MIB = 1024 * 1024;
const ENGINE = 24_105 * MIB; // about what this machine's engine reports as MemTotal

describe('oom-backend: the memory limit set on the primary, and its undo', () => {
  it.each<[string, number, number]>([
    ['an idle container gets the minimum', 34 * MIB, OOM_MIN_LIMIT_BYTES],
    ['a busy one gets its usage plus the headroom', 200 * MIB, 200 * MIB + OOM_HEADROOM_BYTES],
    ['rounded up to a whole MiB', 200 * MIB + 1, 201 * MIB + OOM_HEADROOM_BYTES],
    ['no usage known: the minimum', 0, OOM_MIN_LIMIT_BYTES],
  ])('%s', (_, usage, limit) => {
    // memory+swap equals memory: no swap, so the limit is reached and the kernel OOM-kills.
    expect(oomLimitFor(usage)).toEqual({ Memory: limit, MemorySwap: limit });
  });

  it.each<[string, { Memory?: number; MemorySwap?: number }, { Memory: number; MemorySwap: number }]>([
    // Docker cannot set "no limit" again (0 = unchanged, -1 refused): the engine's whole memory limits nothing.
    ['no limit before: the engine memory, memory and memory+swap alike', { Memory: 0, MemorySwap: 0 }, { Memory: ENGINE, MemorySwap: ENGINE }],
    ['nothing known before: the same', {}, { Memory: ENGINE, MemorySwap: ENGINE }],
    ['a limit of its own: given back as it was', { Memory: 512 * MIB, MemorySwap: 1024 * MIB }, { Memory: 512 * MIB, MemorySwap: 1024 * MIB }],
    ['a limit with unlimited swap: memory+swap no lower than the limit', { Memory: 512 * MIB, MemorySwap: -1 }, { Memory: 512 * MIB, MemorySwap: ENGINE }],
  ])('%s', (_, before, undo) => {
    expect(oomLimitUndo(before, ENGINE)).toEqual(undo);
  });

  it('the undo of no limit is a whole number of MiB, never below the engine memory', () => {
    const undo = oomLimitUndo({ Memory: 0 }, 25_276_063_744); // this machine's MemTotal, not a whole MiB
    expect(undo.Memory % MIB).toBe(0);
    expect(undo.Memory).toBeGreaterThanOrEqual(25_276_063_744);
  });
});
