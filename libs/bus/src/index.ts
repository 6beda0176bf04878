/**
 * The NATS JetStream bus between the search controller, the child trainers
 * and the metrics service (subjects and streams: see types.ts), plus
 * in-memory stand-ins for the embedded mode. Test helpers (a throwaway
 * nats-server) live in the separate `@nasnet/bus/testing` entry.
 *
 * ```ts
 * // controller
 * const bus = await connectBus(config.nats.url, { name: 'controller' }); // a service's config.ts read NATS_URL
 * await ensureStreams(bus.jsm);
 * const loop = new SearchLoop(spec, { searchId, executor: new JetStreamExecutor(bus) });
 * const states = await KvStateStore.open<SearchState>(bus);
 *
 * // trainer
 * const consumer = await TrainerConsumer.start(bus, { trainerId: 'trainer-1' });
 * for (let d; (d = await consumer.next(signal)); ) {
 *   const result = await train(d.task);
 *   await publishChildResult(bus, d.task, result);
 *   await d.ack();
 * }
 * ```
 */
export {
  STREAM_TASKS, STREAM_RESULTS, STREAM_EVENTS, STREAM_DLQ, KV_SEARCHES, KV_CANCELS, KV_TRANSFERS, CONSUMER_TRAINERS, SYSTEM_EVENTS,
  taskSubject, resultSubject, eventSubject, dlqSubject, cancelKey, HEADER_GENERATION,
} from './types.js';
export type {
  BusEvent, TaskDelivery, StateStore, EventBus, EventSubscribeOptions, EventSubscription,
  ChildProgress, ChildResult, ChildTask, SearchEvent,
} from './types.js';
export {
  HEADER_TRAIN_LIMIT,
  encodeChildTask, decodeChildTask, encodeChildResult, decodeChildResult, encodeChildProgress, decodeChildProgress,
  encodeBusEvent, decodeBusEvent, decodeTaskGeneration,
} from './codec.js';
export type { WireMessage, HeaderReader, TaskSource, ResultContext, DecodedResult } from './codec.js';
export {
  BusDecodeError, BusEncodeError, StreamConfigConflictError, StateStoreKeyError, StateIntegrityError, ExecutorClosedError, ChildAbortedError,
  SearchQueueError, SearchQueueGoneError, SharedQueueConflictError, BusRetryExhaustedError, ResultRejectedError, ResultSubjectTakenError,
} from './errors.js';
export { withBusRetry, isTransientBusError, onReconnect, DEFAULT_BUS_RETRY } from './retry.js';
export type { BusRetryOptions } from './retry.js';
export {
  SEARCH_QUEUE_PREFIX, searchQueueName, openSearchQueue, closeSearchQueue, listSearchQueues, searchQueueExists, deleteSharedQueue,
  queueEpochKey, readQueueEpoch,
} from './search-queue.js';
export type { SearchQueueOptions } from './search-queue.js';
export {
  NATS_ROLES, NATS_PASSWORD_VARIABLES, natsPermissions, natsAuthConfig, natsPasswordVariables, inboxPrefixFor, isVariableSafePassword,
  NatsAuthConfigError,
} from './auth.js';
export type { NatsRole, NatsPermissions, NatsPassword, NatsPasswordVariable } from './auth.js';
export {
  createNatsOperator, natsOperatorConfig, formatSigner, parseSigner, mintUserCreds, mintTrainerCreds, mintServiceCreds, credsUserName,
  credsInboxPrefix, trainerUserName, trainerPermissions, trainerPermissionTemplate, NatsCredentialsError,
} from './accounts.js';
export type { NatsOperatorSetup, NatsUserSigner, MintOptions } from './accounts.js';
export { connectBus, natsAuthOptions } from './connect.js';
export type { BusConnection, ConnectBusOptions } from './connect.js';
export { ensureStreams, streamConfigs, defaultStreamOptions } from './streams.js';
export type { StreamOptions, EnsureReport } from './streams.js';
export { JetStreamExecutor } from './executor.js';
export type { JetStreamExecutorOptions } from './executor.js';
export { TrainerConsumer, queueStats } from './consumer.js';
export type { TrainerConsumerOptions } from './consumer.js';
export { CancelBoard } from './cancel.js';
export { publishChildResult, publishDeadLetter, DLQ_HEADERS } from './publish.js';
export type { DeadLetter } from './publish.js';
export { NatsEventBus, MemoryEventBus, subjectOfEvent } from './events.js';
export type { MemoryEventBusOptions } from './events.js';
export { KvStateStore, MemoryStateStore } from './state.js';
export type { KvStateStoreOptions } from './state.js';
