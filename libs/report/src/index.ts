/**
 * Drawings and reports for people: NASNet cells and genotypes as SVG in the
 * style of the paper's Figure 4, reward curves of a search as SVG, and
 * compact terminal forms (cell formulas, sparklines) for `nasctl top`.
 * The drawings are pure functions of their input: the same input gives the
 * same bytes. Two writers sit on top: `writeSearchReport` (a search's report
 * folder: results.json, report.md, drawings, the retrained winner's model)
 * and `compareStrategies` + `strategyComparisonSvg` (strategies over seeds:
 * mean and 95% t interval of the best and top-N unique rewards).
 *
 * ```ts
 * import { NASNET_A } from '@nasnet/search-space';
 * import { genotypeToSvg, rewardCurveSvg, cellToText, sparkline } from '@nasnet/report';
 * writeFileSync('nasnet-a.svg', genotypeToSvg(NASNET_A, { title: 'NASNet-A' }));
 * writeFileSync('rewards.svg', rewardCurveSvg(points, { series: [{ strategy: 'ppo', label: 'PPO' }] }));
 * console.log(cellToText(NASNET_A.reduction, 'reduction').join('\n'));
 * console.log(sparkline(rewards, 40));
 * const { summary } = writeSearchReport('runs/s1', finalState, { modelsDir: 'runs/s1/models' });
 * ```
 */
export { cellToSvg, genotypeToSvg } from './cell-svg.js';
export type { CellSvgOptions, GenotypeSvgOptions } from './cell-svg.js';
export { layoutCell } from './cell-layout.js';
export type {
  Box,
  CellLayout,
  CombineNodeLayout,
  EdgeLayout,
  EdgeTarget,
  InputNodeLayout,
  OpNodeLayout,
  OutputNodeLayout,
} from './cell-layout.js';
export { rewardCurveSvg, DEFAULT_MOVING_AVERAGE_WINDOW, SERIES_COLORS } from './reward-chart.js';
export type { RewardPoint, RewardSeriesStyle, RewardChartOptions } from './reward-chart.js';
export { cellToText, blockFormula, outputFormula, sparkline } from './cell-text.js';
export type { CellTextDrawingOptions, SparklineRange } from './cell-text.js';
export {
  OPERATION_KIND_COLORS,
  COMBINE_COLORS,
  INPUT_COLORS,
  OUTPUT_COLORS,
  stateName,
  branchLabel,
} from './palette.js';
export type { NodeColors } from './palette.js';
export { writeSearchReport, searchReportSummary } from './search-report.js';
export { compareStrategies, scoreRun, uniqueRewards, strategyComparisonSvg } from './strategy-comparison.js';
export type { ComparedRun, ComparedChild, RunScore, StrategyScore, CompareOptions, ComparisonChartOptions } from './strategy-comparison.js';
export { meanInterval, studentTCdf, studentTQuantile } from './stats.js';
export type { MeanInterval } from './stats.js';
export type { SearchReport, SearchReportOptions, SearchReportSummary, ArchitectureRecord } from './search-report.js';
export { escapeXml } from './svg.js';
export type { Point, PathSegment } from './svg.js';
export {
  UndrawableCellError,
  InvalidRewardPointError,
  NonFiniteCoordinateError,
  InvalidDrawingOptionError,
  RunWithoutRewardsError,
} from './errors.js';
