import * as pb from '@nasnet/proto';
import { genotypeToProto } from '@nasnet/proto';
import { summarizeSearch, type RankedArchitecture, type SearchCounts, type SearchSpecInput, type SearchSpec } from '@nasnet/search';
import { formatGenotype } from '@nasnet/search-space';
import type { TrainerResourceRequest } from '@nasnet/launcher';
import type { StoredSearch, SearchRunState, SequencedEvent } from './manager.js';

/** A request field that cannot be used; becomes INVALID_ARGUMENT naming the field. */
export class InvalidRequestError extends Error {
  constructor(readonly field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'InvalidRequestError';
  }
}

const STRATEGIES: Record<number, SearchSpec['strategy'] | undefined> = {
  [pb.SearchStrategy.SEARCH_STRATEGY_UNSPECIFIED]: undefined,
  [pb.SearchStrategy.SEARCH_STRATEGY_PPO]: 'ppo',
  [pb.SearchStrategy.SEARCH_STRATEGY_RANDOM]: 'random',
  [pb.SearchStrategy.SEARCH_STRATEGY_EVOLUTION]: 'evolution',
};

/** Domain spec field -> the proto field a client sent, for error messages. */
const PROTO_FIELD: Record<string, string> = {
  name: 'spec.name', dataset: 'spec.dataset', strategy: 'spec.strategy', seed: 'spec.seed', numBlocks: 'spec.recipe.num_blocks',
  'budget.architectures': 'spec.budget.max_architectures', 'budget.concurrency': 'spec.budget.max_concurrent_children',
  'budget.maxWallSeconds': 'spec.budget.max_wall_seconds',
  'recipe.epochs': 'spec.recipe.epochs', 'recipe.batchSize': 'spec.recipe.batch_size', 'recipe.initialFilters': 'spec.recipe.initial_filters',
  'recipe.cells': 'spec.recipe.cells_per_stack', 'recipe.learningRate': 'spec.recipe.learning_rate', 'recipe.momentum': 'spec.recipe.momentum',
  'recipe.weightDecay': 'spec.recipe.weight_decay', 'recipe.dropPathKeepProb': 'spec.recipe.drop_path_keep_prob', 'recipe.auxHead': 'spec.recipe.aux_head',
  'recipe.gradientClipNorm': 'spec.recipe.grad_clip_norm', 'recipe.maxStepsPerEpoch': 'spec.recipe.max_steps', 'recipe.validationLimit': 'spec.recipe.validation_size', 'recipe.trainLimit': 'spec.recipe.train_size',
  'recipe.checkpointCells': 'spec.recipe.checkpoint_cells',
  'controller.learningRate': 'spec.controller.learning_rate', 'controller.entropyWeight': 'spec.controller.entropy_weight',
  'controller.baselineDecay': 'spec.controller.baseline_decay', 'controller.batchSize': 'spec.controller.batch_size',
  'controller.clipRange': 'spec.controller.ppo_clip', 'controller.epochs': 'spec.controller.ppo_epochs', 'controller.lstmUnits': 'spec.controller.lstm_units',
  'earlyStopping.minEpochs': 'spec.early_stopping.min_epochs', 'finalPhase.topK': 'spec.final_phase.top_k', 'finalPhase.epochs': 'spec.final_phase.epochs',
  'finalPhase.filters': 'spec.final_phase.filters', 'finalPhase.cells': 'spec.final_phase.cells',
};

export function protoFieldFor(domainField: string): string {
  return PROTO_FIELD[domainField] ?? `spec.${domainField}`;
}

const opt = <T>(v: T | undefined): T | undefined => (v === undefined ? undefined : v);

/** SubmitSearch's spec -> the domain's spec input (defaults stay unset so normalizeSpec fills them). */
export function specFromProto(spec: pb.SearchSpec | undefined): { input: SearchSpecInput; resources: TrainerResourceRequest } {
  if (!spec) throw new InvalidRequestError('spec', 'is required');
  if (!(spec.strategy in STRATEGIES)) throw new InvalidRequestError('spec.strategy', `unknown strategy enum ${spec.strategy}`);
  const strategy = STRATEGIES[spec.strategy];
  const b = spec.budget;
  const r = spec.recipe;
  const c = spec.controller;
  const input: SearchSpecInput = {
    ...(spec.name ? { name: spec.name } : {}),
    ...(spec.dataset ? { dataset: spec.dataset } : {}),
    ...(strategy ? { strategy } : {}),
    seed: spec.seed,
    ...(r?.numBlocks !== undefined ? { numBlocks: r.numBlocks } : {}),
    budget: {
      ...(b?.maxArchitectures ? { architectures: b.maxArchitectures } : {}),
      ...(b?.maxConcurrentChildren ? { concurrency: b.maxConcurrentChildren } : b?.maxTrainers ? { concurrency: b.maxTrainers } : {}),
      ...(b?.maxWallSeconds ? { maxWallSeconds: b.maxWallSeconds } : {}),
    },
    recipe: r ? {
      epochs: opt(r.epochs), batchSize: opt(r.batchSize), initialFilters: opt(r.initialFilters), cells: opt(r.cellsPerStack),
      learningRate: opt(r.learningRate), momentum: opt(r.momentum), weightDecay: opt(r.weightDecay), dropPathKeepProb: opt(r.dropPathKeepProb),
      auxHead: opt(r.auxHead), gradientClipNorm: opt(r.gradClipNorm), maxStepsPerEpoch: opt(r.maxSteps), validationLimit: opt(r.validationSize), trainLimit: opt(r.trainSize),
      checkpointCells: opt(r.checkpointCells),
    } : {},
    controller: c ? {
      lstmUnits: opt(c.lstmUnits), learningRate: opt(c.learningRate), entropyWeight: opt(c.entropyWeight), baselineDecay: opt(c.baselineDecay),
      batchSize: opt(c.batchSize), clipRange: opt(c.ppoClip), epochs: opt(c.ppoEpochs),
    } : {},
    earlyStopping: spec.earlyStopping ? { enabled: spec.earlyStopping.medianRule, ...(spec.earlyStopping.minEpochs ? { minEpochs: spec.earlyStopping.minEpochs } : {}) } : {},
    finalPhase: spec.finalPhase ? {
      topK: spec.finalPhase.topK, ...(spec.finalPhase.epochs ? { epochs: spec.finalPhase.epochs } : {}),
      // 0 = the search recipe's size (proto FinalPhase).
      ...(spec.finalPhase.filters ? { filters: spec.finalPhase.filters } : {}), ...(spec.finalPhase.cells ? { cells: spec.finalPhase.cells } : {}),
    } : {},
  };
  // What the caller asks of its trainers; the manager applies the operator's profile (an image is refused there).
  const res = spec.resources;
  const resources: TrainerResourceRequest = {
    ...(res?.profile ? { profile: res.profile } : {}), ...(res?.image ? { image: res.image } : {}), ...(res?.gpus ? { gpus: res.gpus } : {}),
    ...(res?.cpu ? { cpu: res.cpu } : {}), ...(res?.memory ? { memory: res.memory } : {}), ...(res?.backend ? { backend: res.backend } : {}),
  };
  return { input, resources };
}

export function specToProto(spec: SearchSpec): pb.SearchSpec {
  const strategy = { ppo: pb.SearchStrategy.SEARCH_STRATEGY_PPO, random: pb.SearchStrategy.SEARCH_STRATEGY_RANDOM, evolution: pb.SearchStrategy.SEARCH_STRATEGY_EVOLUTION }[spec.strategy];
  return pb.SearchSpec.fromPartial({
    name: spec.name, dataset: spec.dataset, strategy, seed: spec.seed,
    budget: { maxArchitectures: spec.budget.architectures, maxConcurrentChildren: spec.budget.concurrency, maxWallSeconds: spec.budget.maxWallSeconds },
    recipe: {
      epochs: spec.recipe.epochs, batchSize: spec.recipe.batchSize, initialFilters: spec.recipe.initialFilters, cellsPerStack: spec.recipe.cells,
      learningRate: spec.recipe.learningRate, momentum: spec.recipe.momentum, weightDecay: spec.recipe.weightDecay,
      dropPathKeepProb: spec.recipe.dropPathKeepProb, auxHead: spec.recipe.auxHead, gradClipNorm: spec.recipe.gradientClipNorm,
      maxSteps: spec.recipe.maxStepsPerEpoch, validationSize: spec.recipe.validationLimit, trainSize: spec.recipe.trainLimit, numBlocks: spec.numBlocks,
      // A search stored by a build before the field has none: off.
      checkpointCells: spec.recipe.checkpointCells ?? false,
    },
    controller: {
      lstmUnits: spec.controller.lstmUnits, learningRate: spec.controller.learningRate, entropyWeight: spec.controller.entropyWeight,
      baselineDecay: spec.controller.baselineDecay, batchSize: spec.controller.batchSize, ppoClip: spec.controller.clipRange, ppoEpochs: spec.controller.epochs,
    },
    earlyStopping: { medianRule: spec.earlyStopping.enabled, minEpochs: spec.earlyStopping.minEpochs },
    finalPhase: { topK: spec.finalPhase.topK, epochs: spec.finalPhase.epochs, filters: spec.finalPhase.filters, cells: spec.finalPhase.cells },
  });
}

const RUN_STATES: Record<SearchRunState, pb.SearchState> = {
  pending: pb.SearchState.SEARCH_STATE_PENDING,
  running: pb.SearchState.SEARCH_STATE_RUNNING,
  succeeded: pb.SearchState.SEARCH_STATE_SUCCEEDED,
  failed: pb.SearchState.SEARCH_STATE_FAILED,
  cancelled: pb.SearchState.SEARCH_STATE_CANCELLED,
};

export function runStateToProto(s: SearchRunState): pb.SearchState {
  return RUN_STATES[s];
}

export function runStateFromProto(s: pb.SearchState, field: string): SearchRunState {
  const found = (Object.entries(RUN_STATES) as Array<[SearchRunState, pb.SearchState]>).find(([, v]) => v === s);
  if (!found) throw new InvalidRequestError(field, `unknown search state enum ${s}`);
  return found[0];
}

/**
 * One ranked architecture (summarizeSearch / topArchitectures of the search
 * lib). Sizes are the search child's: the retrained network is larger.
 */
export function architectureToProto(a: RankedArchitecture, rank = a.rank): pb.ArchitectureSummary {
  return {
    genotype: genotypeToProto(a.genotype, { hash: a.hash, text: formatGenotype(a.genotype) }),
    reward: a.reward, childId: String(a.childId), paramCount: a.paramCount, multAdds: a.multAdds, rank,
    ...(a.finalReward !== undefined ? { finalReward: a.finalReward } : {}),
  };
}

/** The search lib's counts as the proto has them: its `failed` is "failed or diverged". */
export function countsToProto(c: SearchCounts): pb.SearchCounts {
  return { submitted: c.submitted, trained: c.trained, failed: c.failed + c.diverged, cached: c.cached, inFlight: c.inFlight, earlyStopped: c.earlyStopped };
}

export function statusToProto(s: StoredSearch): pb.SearchStatus {
  // One definition of best and of the counts: the search lib's summary (the CLI and the report use it too).
  const summary = summarizeSearch({ entries: s.loop?.entries ?? [] });
  const best = summary.best;
  return {
    searchId: s.id,
    spec: specToProto(s.spec),
    state: runStateToProto(s.runState),
    counts: countsToProto(summary.counts),
    bestReward: best ? best.finalReward ?? best.reward : 0,
    bestGenotype: best ? genotypeToProto(best.genotype, { hash: best.hash, text: formatGenotype(best.genotype) }) : undefined,
    bestChildId: best ? String(best.childId) : '',
    policyUpdates: s.loop?.updates.length ?? 0,
    createdAtMs: s.createdAtMs, startedAtMs: s.startedAtMs ?? 0, updatedAtMs: Date.now(), finishedAtMs: s.finishedAtMs ?? 0,
    message: s.message ?? '',
    lastSequence: s.lastSequence,
    submitter: s.submitter ?? '',
    bestSearchReward: best?.reward ?? 0,
    bestFromFinalPhase: summary.bestFromFinalPhase,
  };
}

/** A search event as the public contract shows it. */
export function eventToProto(e: SequencedEvent): pb.SearchEvent {
  const base = { searchId: e.searchId, sequence: e.sequence, timeMs: e.timeMs };
  const ev = e.event;
  switch (ev.type) {
    case 'child_queued':
      return { ...base, event: { $case: 'childQueued', value: { childId: String(ev.childId), genotype: { normal: undefined, reduction: undefined, hash: ev.hash, text: ev.genotype }, attempt: 1 } } };
    case 'child_progress': {
      const p = ev.progress;
      return { ...base, event: { $case: 'childProgress', value: pb.ChildProgress.fromPartial({
        searchId: e.searchId, childId: String(p.childId), epoch: p.epoch, step: p.step, loss: p.loss, accuracy: p.trainAccuracy, imagesPerSec: p.imagesPerSec,
        isValidation: p.validationAccuracy !== undefined, epochs: p.epochs, stepsPerEpoch: p.stepsPerEpoch, validationAccuracy: p.validationAccuracy ?? 0,
      }) } };
    }
    case 'child_finished': {
      const r = ev.result;
      const status = { ok: pb.ChildStatus.CHILD_STATUS_OK, failed: pb.ChildStatus.CHILD_STATUS_FAILED, diverged: pb.ChildStatus.CHILD_STATUS_DIVERGED, cancelled: pb.ChildStatus.CHILD_STATUS_CANCELLED, early_stopped: pb.ChildStatus.CHILD_STATUS_EARLY_STOPPED }[r.status];
      return { ...base, event: { $case: 'childFinished', value: { cached: ev.cached, result: pb.ChildResult.fromPartial({
        searchId: e.searchId, childId: String(r.childId), reward: r.reward, validationAccuracy: r.validationByEpoch.at(-1) ?? 0, status, reason: r.reason ?? '',
        epochsDone: r.validationByEpoch.length, trainSeconds: r.trainSeconds, paramCount: r.paramCount, multAdds: r.multAdds, trainerId: r.trainer ?? '',
        attempts: r.attempts ?? 1, validationByEpoch: r.validationByEpoch,
      }) } } };
    }
    case 'policy_updated': {
      const u = ev.update;
      return { ...base, event: { $case: 'policyUpdated', value: { update: u.update, meanReward: u.meanReward, baseline: u.baseline, loss: u.loss, entropy: u.entropy, updateSeconds: u.updateMs / 1000, batchSize: 0 } } };
    }
    case 'best_improved':
      return { ...base, event: { $case: 'bestImproved', value: { previousReward: 0, architecture: { genotype: { normal: undefined, reduction: undefined, hash: ev.hash, text: ev.genotype }, reward: ev.reward, childId: String(ev.childId), paramCount: 0, multAdds: 0, rank: 1 } } } };
    case 'phase':
      return { ...base, event: { $case: 'log', value: { level: pb.LogLevel.LOG_LEVEL_INFO, message: `phase ${ev.phase}`, source: 'controller' } } };
    case 'finished': {
      const current = ev.outcome === 'succeeded' ? pb.SearchState.SEARCH_STATE_SUCCEEDED : ev.outcome === 'cancelled' ? pb.SearchState.SEARCH_STATE_CANCELLED : pb.SearchState.SEARCH_STATE_FAILED;
      return { ...base, event: { $case: 'stateChanged', value: { previous: pb.SearchState.SEARCH_STATE_RUNNING, current, message: ev.reason ?? '' } } };
    }
  }
}
