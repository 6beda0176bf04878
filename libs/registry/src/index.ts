/**
 * One job registry for the services (searches in the controller, transfers
 * in the transfer service): idempotent submit that is atomic with its first
 * store write, numbered events with replay, final states, newest-first
 * pages, cancel, throttled saves, bounded memory, and recovery that
 * quarantines what it cannot read. Transport-free: it runs on any
 * StateStore (JetStream KV in the services, memory in tests).
 *
 * ```ts
 * const jobs = new JobRegistry<Spec, { progress?: number }, MyEvent>({ store, kind: 'job' });
 * const { unfinished } = await jobs.recover();          // start these again
 * const { job } = await jobs.submit({ requestId, prepare: () => ({ spec, status: {} }) });
 * jobs.setState(job.id, 'running');
 * jobs.emit(job.id, { type: 'started' });
 * jobs.current(job.id).progress = 0.5;
 * void jobs.save(job.id);                              // throttled
 * await jobs.finish(job.id, 'succeeded');              // stored, may leave memory
 * const unsubscribe = await jobs.watch(job.id, 1, (e) => console.log(e));
 * ```
 */
export { JobRegistry } from './registry.js';
export type { JobRegistryOptions } from './registry.js';
export { ThrottledWriter, WRITE_BUDGET } from './writer.js';
export type { ThrottledWriterOptions } from './writer.js';
export { readJob, LIST_PER_SEGMENT } from './segments.js';
export type { SegmentedList, StoredList } from './segments.js';
export { FINAL_STATES, isFinal } from './types.js';
export type {
  StateStore, JobState, JobFields, Job, JobEvent, JobWatcher, QuarantinedEntry, JobPage, ListQuery, RecoveryReport,
} from './types.js';
export { JobStoreError, JobNotFoundError, InvalidPageTokenError, JobDecodeError, JobNotLiveError, JobListError } from './errors.js';
