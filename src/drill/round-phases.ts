/** The writer and the split-brain monitor of a round, as one: they start and stop together. */
export interface Watch {
  start(): void;
  stop(): Promise<void>;
}

export interface RoundPhases {
  /** Injects the fault and measures the failover; throws when the round fails. */
  fault(): Promise<void>;
  /** Undoes the fault as a person would: restart, unpause, reconnect. */
  undo(): Promise<void>;
  /** Resolves once the node the fault hit is back as a replica and the watch has seen it so; throws on timeout. */
  rejoined(): Promise<void>;
}

/**
 * The order of a round: the watch spans the fault AND its undo, and stops only once the
 * old node is back as a replica, for the moment a fenced or frozen node comes back is the
 * riskiest one. The undo runs whatever happened before (a failed round must not leave its
 * fault in force); waiting for the rejoin is pointless when the undo itself failed.
 * Returns the errors of the phases, first first.
 */
export async function watchWholeRound(watch: Watch, phases: RoundPhases): Promise<string[]> {
  const errors: string[] = [];
  const attempt = async (phase: () => Promise<void>): Promise<boolean> => {
    try {
      await phase();
      return true;
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
      return false;
    }
  };
  watch.start();
  try {
    await attempt(phases.fault);
    if (await attempt(phases.undo)) await attempt(phases.rejoined);
  } finally {
    await watch.stop();
  }
  return errors;
}
