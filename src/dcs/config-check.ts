import type { Journal } from '../core/journal.js';
import type { Published } from '../core/types.js';
import type { Keys } from './keys.js';
import type { ClusterSnapshot } from './snapshot.js';

// The schemas say a value has the right shape; only the config says which nodes exist and
// where. A record that names a node the config does not have, or a node at another host
// or port, is not acted on: read as the truth, a `primary` naming an unknown node would
// have the real primary fenced as a stray, and a journal naming one would fence or promote
// on a stranger's word. Such a record is held as unreadable, like one that does not parse
// (the leader then holds, and status names the key and the problem). Pure.

/** A node as the config has it: the only source of names, hosts and ports. */
export interface ConfiguredNode {
  name: string;
  host: string;
  port: number;
}

const notInConfig = (name: string, nodes: readonly ConfiguredNode[]) => `names ${name}, which is not a node of the config (${nodes.map((n) => n.name).join(', ')})`;

/** Why a published primary must not be acted on; null when it names a node of the config at its host and port. */
export function publishedProblem(published: Published, nodes: readonly ConfiguredNode[]): string | null {
  const node = nodes.find((n) => n.name === published.name);
  if (!node) return notInConfig(published.name, nodes);
  if (node.host !== published.host || node.port !== published.port) {
    return `publishes ${published.name} at ${published.host}:${published.port}, where the config has ${node.host}:${node.port}`;
  }
  return null;
}

/** Why a journal must not be acted on; null when every node it names is in the config. */
export function journalProblem(journal: Journal, nodes: readonly ConfiguredNode[]): string | null {
  const named: Array<[string, string]> = [
    ['from', journal.from],
    ['to', journal.to],
    ...(journal.replans ?? []).flatMap((replan, i): Array<[string, string]> => [
      [`replans.${i}.abandoned`, replan.abandoned],
      [`replans.${i}.to`, replan.to],
    ]),
  ];
  const unknown = named.find(([, name]) => !nodes.some((n) => n.name === name));
  return unknown ? `${unknown[0]}: ${notInConfig(unknown[1], nodes)}` : null;
}

/**
 * The snapshot with the records that name what the config does not have moved to
 * `unreadable`. (The synchronous set is left as it is: a member the config does not have
 * can never be seen, so it only makes the quorum harder to reach, never easier.)
 */
export function checkAgainstConfig(snapshot: ClusterSnapshot, keys: Pick<Keys, 'primary' | 'journal'>, nodes: readonly ConfiguredNode[]): ClusterSnapshot {
  const unreadable = [...snapshot.unreadable];
  let { published, journal } = snapshot;
  const primaryWrong = published && publishedProblem(published, nodes);
  if (primaryWrong) {
    unreadable.push({ key: keys.primary, problem: primaryWrong });
    published = null;
  }
  const journalWrong = journal && journalProblem(journal, nodes);
  if (journalWrong) {
    unreadable.push({ key: keys.journal, problem: journalWrong });
    journal = null;
  }
  return primaryWrong || journalWrong ? { ...snapshot, published, journal, unreadable } : snapshot;
}
