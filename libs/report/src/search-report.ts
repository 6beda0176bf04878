/**
 * The report folder of a finished (or stopped) search: results.json for
 * programs, report.md with the drawings for people, and the exported model
 * of the winner. "Best" is the search lib's one definition
 * (summarizeSearch): the final phase's retraining decides when it ran.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeSearch, type RankedArchitecture, type SearchState, type SearchSummary } from '@nasnet/search';
import { formatGenotype } from '@nasnet/search-space';
import { genotypeToSvg } from './cell-svg.js';
import { rewardCurveSvg } from './reward-chart.js';

export interface SearchReportOptions {
  /** Tensor backend the children trained on, for the record. @default '' */
  readonly backend?: string;
  /**
   * Folder of the networks final-phase children exported (`<modelsDir>/child-<id>`);
   * the winner's is copied to `<out>/model`. @default none (no model copied)
   */
  readonly modelsDir?: string;
  /** Ranked cells drawn as top-<i>-child-<id>.svg. @default 3 */
  readonly drawTop?: number;
}

/** One architecture as results.json and the CLI's JSON line show it. */
export interface ArchitectureRecord {
  rank: number;
  childId: number;
  hash: string;
  genotype: string;
  /** Search-phase reward. */
  reward: number;
  paramCount: number;
  multAdds: number;
  finalChildId?: number;
  /** Reward after the final phase's retraining (absent when not retrained, or when that failed). */
  finalReward?: number;
  finalParamCount?: number;
  finalMultAdds?: number;
}

/** What a report says in a few numbers (results.json's `summary`). */
export interface SearchReportSummary {
  outcome?: string;
  reason?: string;
  trained: number;
  cached: number;
  failed: number;
  diverged: number;
  earlyStopped: number;
  cancelled: number;
  /** The winner (retrained ranking first). */
  best?: ArchitectureRecord;
  /** The best by search-phase reward alone. */
  bestSearchPhase?: ArchitectureRecord;
  bestFromFinalPhase: boolean;
  /** Every cell the final phase retrained, by retrained reward: both rewards each. */
  retrained: ArchitectureRecord[];
  /** The exported model folder of the winner, when one was copied. */
  model?: string;
}

export interface SearchReport {
  summary: SearchReportSummary;
  /** The search lib's summary it was made from. */
  search: SearchSummary;
  /** Files written, relative to the report folder. */
  files: string[];
}

function record(a: RankedArchitecture): ArchitectureRecord {
  return {
    rank: a.rank, childId: a.childId, hash: a.hash, genotype: formatGenotype(a.genotype), reward: a.reward, paramCount: a.paramCount, multAdds: a.multAdds,
    ...(a.finalChildId !== undefined ? { finalChildId: a.finalChildId } : {}),
    ...(a.finalReward !== undefined ? { finalReward: a.finalReward, finalParamCount: a.finalParamCount!, finalMultAdds: a.finalMultAdds! } : {}),
  };
}

/** Summary of a search as the report, results.json and the CLI show it. */
export function searchReportSummary(state: SearchState, search: SearchSummary = summarizeSearch(state)): SearchReportSummary {
  const c = search.counts;
  return {
    ...(state.outcome ? { outcome: state.outcome } : {}),
    ...(state.reason ? { reason: state.reason } : {}),
    trained: c.trained, cached: c.cached, failed: c.failed, diverged: c.diverged, earlyStopped: c.earlyStopped, cancelled: c.cancelled,
    ...(search.best ? { best: record(search.best) } : {}),
    ...(search.bestSearchPhase ? { bestSearchPhase: record(search.bestSearchPhase) } : {}),
    bestFromFinalPhase: search.bestFromFinalPhase,
    retrained: search.ranking.filter((a) => a.finalReward !== undefined).map(record),
  };
}

/** Writes results.json, report.md, the drawings and the winner's model into `out` (which must exist). */
export function writeSearchReport(out: string, state: SearchState, options: SearchReportOptions = {}): SearchReport {
  const search = summarizeSearch(state);
  const summary = searchReportSummary(state, search);
  const files: string[] = [];
  const write = (name: string, content: string) => {
    writeFileSync(join(out, name), content);
    files.push(name);
  };
  const { spec } = state;
  const best = search.best;

  if (best) {
    write('best-cells.svg', genotypeToSvg(best.genotype, {
      title: `Best cells: child ${best.childId}, ${rewardsText(best)}`,
      subtitle: `${spec.strategy} search, seed ${spec.seed}, ${spec.dataset}`,
    }));
    search.ranking.slice(0, options.drawTop ?? 3).forEach((a) => write(`top-${a.rank}-child-${a.childId}.svg`, genotypeToSvg(a.genotype, { title: `#${a.rank}: child ${a.childId}, ${rewardsText(a)}` })));
    // The exported model is the retrained winner's (the search child itself exports nothing).
    if (options.modelsDir && best.finalChildId !== undefined && best.finalReward !== undefined) {
      const from = join(options.modelsDir, `child-${best.finalChildId}`);
      if (existsSync(join(from, 'model.json'))) {
        mkdirSync(join(out, 'model'), { recursive: true });
        cpSync(from, join(out, 'model'), { recursive: true });
        summary.model = join(out, 'model');
      }
    }
  }
  const points = state.entries.filter((e) => e.phase === 'search' && e.result).map((e) => ({ child: e.childId, reward: e.result!.reward, strategy: spec.strategy }));
  write('reward-curve.svg', rewardCurveSvg(points, { title: `Reward per child: ${spec.strategy}, seed ${spec.seed}` }));

  const results = {
    spec,
    outcome: state.outcome,
    reason: state.reason,
    backend: options.backend ?? '',
    elapsedSeconds: state.elapsedMs / 1000,
    summary,
    counts: search.counts,
    ranking: search.ranking.map(record),
    children: state.entries.map((e) => ({
      childId: e.childId, phase: e.phase, hash: e.hash, genotype: formatGenotype(e.genotype), duplicateOf: e.duplicateOf, sourceChildId: e.sourceChildId,
      status: e.result?.status, reward: e.result?.reward, reason: e.result?.reason, validationByEpoch: e.result?.validationByEpoch,
      trainSeconds: e.result?.trainSeconds, paramCount: e.result?.paramCount, multAdds: e.result?.multAdds, trainer: e.result?.trainer,
    })),
    policyUpdates: state.updates,
  };
  write('results.json', JSON.stringify(results, null, 2));
  write('report.md', reportMarkdown(state, search, summary, options.backend ?? '', files));
  return { summary, search, files };
}

function rewardsText(a: RankedArchitecture): string {
  return `validation accuracy ${a.reward.toFixed(4)}${a.finalReward !== undefined ? `, retrained ${a.finalReward.toFixed(4)}` : ''}`;
}

function reportMarkdown(state: SearchState, search: SearchSummary, summary: SearchReportSummary, backend: string, files: readonly string[]): string {
  const { spec } = state;
  const c = search.counts;
  const best = search.best;
  const lines = [
    `# Search ${spec.name}`,
    '',
    `- strategy: ${spec.strategy}, seed ${spec.seed}, data ${spec.dataset}${backend ? `, backend ${backend}` : ''}`,
    `- outcome: ${state.outcome ?? 'running'}${state.reason ? ` (${state.reason})` : ''}, ${duration(state.elapsedMs / 1000)}`,
    `- children: ${c.trained} trained, ${c.cached} cached, ${c.failed} failed, ${c.diverged} diverged, ${c.earlyStopped} early-stopped, ${c.cancelled} cancelled`,
    `- search recipe: ${spec.recipe.epochs} epoch(s), F0 ${spec.recipe.initialFilters}, N ${spec.recipe.cells}`
      + (spec.finalPhase.topK > 0 ? `; final phase: top ${spec.finalPhase.topK} unique cells retrained for ${spec.finalPhase.epochs} epoch(s) at F0 ${spec.finalPhase.filters}, N ${spec.finalPhase.cells}` : ''),
    best
      ? `- best: child ${best.childId}, ${rewardsText(best)}${search.bestFromFinalPhase ? ' (chosen by the final phase)' : ''}`
      : '- best: none (no child trained successfully)',
    best ? `- genotype: \`${formatGenotype(best.genotype)}\`` : '',
  ];
  if (search.bestSearchPhase && best && search.bestSearchPhase.childId !== best.childId) {
    lines.push(`- the search phase alone would have picked child ${search.bestSearchPhase.childId} (${rewardsText(search.bestSearchPhase)})`);
  }
  const retrained = summary.retrained;
  if (search.finalPhase.queued > 0) {
    // Both rankings side by side: rank i of the search phase, rank i after retraining.
    const bySearch = retrained.slice().sort((a, b) => b.reward - a.reward || a.childId - b.childId);
    lines.push('', '## Final phase: the two rankings', '',
      `${search.finalPhase.retrained} of ${search.finalPhase.queued} cells retrained successfully.`, '',
      '| rank | by search reward | search reward | by retrained reward | retrained reward |',
      '|---:|---|---:|---|---:|');
    bySearch.forEach((s, i) => {
      const f = retrained[i]!;
      lines.push(`| ${i + 1} | child ${s.childId} | ${s.reward.toFixed(4)} | child ${f.childId} | ${f.finalReward!.toFixed(4)} |`);
    });
  }
  lines.push('');
  if (files.includes('best-cells.svg')) lines.push('![best cells](best-cells.svg)', '');
  lines.push('![reward curve](reward-curve.svg)', '');
  return lines.join('\n');
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
