import type { Genotype } from '@nasnet/search-space';
import type { ChildStatus } from './child.js';
import type { ChildEntry, SearchState } from './loop.js';

/**
 * One definition of "best" and of the counts by outcome, shared by the CLI,
 * the controller's gRPC status and TopArchitectures, and the report.
 *
 * Paper (Zoph et al. 2017, section 4): the top cells of the search are
 * retrained, and that retraining decides the best cell. So an architecture
 * whose final-phase retraining succeeded ranks before every architecture
 * that was not retrained, by its retrained reward; the rest follow by
 * their search-phase reward.
 */

/** Children by fate. Search-phase children only, except `inFlight`, which counts every child being trained. */
export interface SearchCounts {
  /** Architectures proposed (trained or taken from the cache). */
  submitted: number;
  /** Distinct architectures that finished training with a reward (status ok or early_stopped). */
  trained: number;
  /** Proposals whose result came from the cache of trained genotypes. */
  cached: number;
  /** Distinct architectures whose training failed (a data error, a crash, out of memory). */
  failed: number;
  /** Distinct architectures whose loss diverged (reward 0). */
  diverged: number;
  /** Distinct architectures stopped by the median rule (also counted in `trained`). */
  earlyStopped: number;
  /** Distinct architectures whose training was cancelled. */
  cancelled: number;
  /** Children being trained right now, search and final phase. */
  inFlight: number;
}

/** One distinct architecture of a search, as ranked. */
export interface RankedArchitecture {
  /** 1 = best. */
  rank: number;
  /** The search-phase child that trained it (the one id a user sees for it). */
  childId: number;
  hash: string;
  genotype: Genotype;
  /** Search-phase reward (validation accuracy of the proxy child). */
  reward: number;
  paramCount: number;
  multAdds: number;
  /** Final-phase child that retrained it; set once that child is queued. */
  finalChildId?: number;
  /** Reward after the final-phase retraining; set only when the retraining succeeded. */
  finalReward?: number;
  finalParamCount?: number;
  finalMultAdds?: number;
}

export interface SearchSummary {
  /** The winner: the best retrained architecture when one was retrained, else the best of the search phase. */
  best?: RankedArchitecture;
  /** The best by search-phase reward alone. */
  bestSearchPhase?: RankedArchitecture;
  /** Whether `best` was chosen by the final phase's retraining. */
  bestFromFinalPhase: boolean;
  counts: SearchCounts;
  /** Every distinct architecture trained successfully, best first (retrained ones first, see above). */
  ranking: RankedArchitecture[];
  /** Final-phase children: queued, retrained successfully, failed (any other status). */
  finalPhase: { queued: number; retrained: number; failed: number };
}

/** Statuses that carry a usable reward (early-stopped children were trained, for fewer epochs). */
const TRAINED: ReadonlySet<ChildStatus> = new Set(['ok', 'early_stopped']);

/** Counts by outcome of a search's children. */
export function countChildren(entries: readonly ChildEntry[]): SearchCounts {
  const counts: SearchCounts = { submitted: 0, trained: 0, cached: 0, failed: 0, diverged: 0, earlyStopped: 0, cancelled: 0, inFlight: 0 };
  for (const e of entries) {
    if (e.state === 'running' && e.duplicateOf === undefined) counts.inFlight++;
    if (e.phase !== 'search') continue;
    counts.submitted++;
    if (e.duplicateOf !== undefined) {
      counts.cached++;
      continue;
    }
    const status = e.state === 'done' ? e.result?.status : undefined;
    if (status === undefined) continue;
    if (TRAINED.has(status)) counts.trained++;
    if (status === 'early_stopped') counts.earlyStopped++;
    else if (status === 'failed') counts.failed++;
    else if (status === 'diverged') counts.diverged++;
    else if (status === 'cancelled') counts.cancelled++;
  }
  return counts;
}

/**
 * Best first. Only search-phase children that trained fully (status ok) and
 * are not cached copies are candidates: one entry per canonical hash.
 */
function rank(entries: readonly ChildEntry[]): RankedArchitecture[] {
  const byHash = new Map<string, RankedArchitecture>();
  for (const e of entries) {
    if (e.phase !== 'search' || e.duplicateOf !== undefined || e.state !== 'done' || e.result?.status !== 'ok') continue;
    const known = byHash.get(e.hash);
    if (known && known.childId < e.childId) continue;
    byHash.set(e.hash, {
      rank: 0, childId: e.childId, hash: e.hash, genotype: e.genotype, reward: e.result.reward,
      paramCount: e.result.paramCount, multAdds: e.result.multAdds,
    });
  }
  const byChild = new Map<number, RankedArchitecture>();
  for (const a of byHash.values()) byChild.set(a.childId, a);
  for (const f of entries) {
    if (f.phase !== 'final') continue;
    const arch = f.sourceChildId !== undefined ? byChild.get(f.sourceChildId) : byHash.get(f.hash);
    if (!arch || arch.hash !== f.hash) continue;
    // Several retrainings of one cell (a resumed final phase): the latest queued one counts.
    arch.finalChildId = f.childId;
    delete arch.finalReward;
    delete arch.finalParamCount;
    delete arch.finalMultAdds;
    if (f.state === 'done' && f.result?.status === 'ok') {
      arch.finalReward = f.result.reward;
      arch.finalParamCount = f.result.paramCount;
      arch.finalMultAdds = f.result.multAdds;
    }
  }
  const ranking = [...byHash.values()].sort((a, b) => {
    const ra = a.finalReward !== undefined;
    const rb = b.finalReward !== undefined;
    if (ra !== rb) return ra ? -1 : 1;
    if (ra && rb && a.finalReward !== b.finalReward) return b.finalReward! - a.finalReward!;
    return b.reward - a.reward || a.childId - b.childId;
  });
  ranking.forEach((a, i) => { a.rank = i + 1; });
  return ranking;
}

/** Best, best after retraining, counts by outcome and the ranking of a search state (finished or not). */
export function summarizeSearch(state: Pick<SearchState, 'entries'>): SearchSummary {
  const ranking = rank(state.entries);
  let bestSearchPhase: RankedArchitecture | undefined;
  for (const a of ranking) if (!bestSearchPhase || a.reward > bestSearchPhase.reward || (a.reward === bestSearchPhase.reward && a.childId < bestSearchPhase.childId)) bestSearchPhase = a;
  const finals = state.entries.filter((e) => e.phase === 'final');
  const retrained = finals.filter((e) => e.state === 'done' && e.result?.status === 'ok').length;
  const best = ranking[0];
  return {
    ...(best ? { best } : {}),
    ...(bestSearchPhase ? { bestSearchPhase } : {}),
    bestFromFinalPhase: best?.finalReward !== undefined,
    counts: countChildren(state.entries),
    ranking,
    finalPhase: { queued: finals.length, retrained, failed: finals.filter((e) => e.state === 'done' && e.result?.status !== 'ok').length },
  };
}

/** The k best distinct architectures, retrained ones first (TopArchitectures, `nasctl search top`, transfer by search id). */
export function topArchitectures(state: Pick<SearchState, 'entries'>, k: number): RankedArchitecture[] {
  return summarizeSearch(state).ranking.slice(0, Math.max(0, k));
}

/**
 * The most common reason among children that ended without a reward
 * (failed, diverged), with how many children gave it; undefined when none.
 */
export function mostCommonFailure(entries: readonly ChildEntry[]): { reason: string; children: number; of: number } | undefined {
  const tally = new Map<string, number>();
  let of = 0;
  for (const e of entries) {
    if (e.duplicateOf !== undefined || e.state !== 'done' || !e.result) continue;
    if (e.result.status !== 'failed' && e.result.status !== 'diverged') continue;
    of++;
    const reason = e.result.reason || e.result.status;
    tally.set(reason, (tally.get(reason) ?? 0) + 1);
  }
  let top: { reason: string; children: number; of: number } | undefined;
  for (const [reason, children] of tally) if (!top || children > top.children) top = { reason, children, of };
  return top;
}
