/**
 * Prometheus metrics without a client library: a registry that writes the
 * text exposition format 0.0.4, and the aggregator that folds bus events into
 * the nasnet_* series the metrics service exposes.
 *
 * ```ts
 * import { MetricsAggregator, PROMETHEUS_CONTENT_TYPE } from '@nasnet/telemetry';
 * const agg = new MetricsAggregator();
 * bus.subscribe((event) => agg.handle(event), { deliver: 'all' });
 * res.setHeader('content-type', PROMETHEUS_CONTENT_TYPE).end(agg.metrics());
 * ```
 */
export {
  Registry, Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE,
  escapeLabelValue, escapeHelp, formatValue, linearBuckets, exponentialBuckets,
} from './registry.js';
export type { MetricType, RegisteredMetric, LabelValues, MetricOptions, GaugeOptions, HistogramOptions } from './registry.js';
export {
  MetricsAggregator, eventProblem, SEARCH_STATES, REWARD_BUCKETS, TRAIN_SECONDS_BUCKETS, UPDATE_SECONDS_BUCKETS,
  DEFAULT_TRAINER_ACTIVE_WINDOW_MS,
} from './aggregator.js';
export type { MetricsAggregatorOptions, HandleOutcome, SearchStateName } from './aggregator.js';
export {
  InvalidMetricNameError, InvalidLabelsError, CounterDecreaseError, DuplicateMetricError, InvalidBucketsError,
} from './errors.js';
