/**
 * The search loop, free of any transport: a strategy proposes, an executor
 * trains, rewards flow back in a reproducible order, and the whole state can
 * be saved and resumed.
 *
 * ```ts
 * const spec = normalizeSpec({ dataset: 'mnist', budget: { architectures: 40 } });
 * const loop = new SearchLoop(spec, { searchId: 's1', executor, onEvent: console.log });
 * const final = await loop.run();
 * ```
 */
export { SearchLoop, FAIL_FAST_CHILDREN } from './loop.js';
export type { SearchState, SearchEvent, SearchPhase, SearchOutcome, ChildEntry, SearchLoopOptions } from './loop.js';
export { normalizeSpec, defaultRecipe, defaultControllerSettings, finalRecipe, SearchSpecError } from './spec.js';
export {
  DEFAULT_SEARCH_LIMITS, STATE_BYTES_PER_CHILD, SearchLimitError, LimitsFileError, checkSearchLimits, estimateStateBytes, parseSearchLimits,
  childDeadlineReason, withChildDeadline,
} from './limits.js';
export type { SearchLimits } from './limits.js';
export { summarizeSearch, topArchitectures, countChildren, mostCommonFailure } from './summary.js';
export type { SearchSummary, SearchCounts, RankedArchitecture } from './summary.js';
export type {
  SearchSpec, SearchSpecInput, ChildRecipe, SearchBudget, ControllerSettings, EarlyStoppingSettings, FinalPhaseSettings,
} from './spec.js';
export type { ChildTask, ChildResult, ChildProgress, ChildStatus, ChildExecutor } from './child.js';
