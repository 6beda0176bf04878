/**
 * The cluster trainer's environment: every variable it reads, and the one
 * function that reads them (main.ts calls it once with process.env).
 */
import {
  ConfigError, natsSettingsFromEnv, NATS_VARIABLES, readBoolean, readEnum, readInteger, readString,
  type Env, type EnvVariable, type NatsSettings,
} from '@nasnet/config';
import { BACKEND_NAMES, type BackendName } from '@nasnet/engine';

/** Every variable the cluster trainer (main.ts) reads. */
export const VARIABLES: readonly EnvVariable[] = [
  ...NATS_VARIABLES,
  { name: 'NATS_TOKEN', required: false, secret: true, meaning: 'NATS token, for a server that authenticates by token instead of user and password.' },
  { name: 'TRAINER_ID', required: false, default: '<hostname>-<pid>', meaning: 'Name of this trainer in events and logs (k8s: the pod name); A-Z a-z 0-9 - _ ., at most 200.' },
  { name: 'SEARCH_ID', required: false, meaning: 'The search whose launch started this trainer (set by the launcher): it takes only that search\'s children, from the search\'s own queue, and exits 0 when the search ends. Unset: children of every search from the shared queue (a controller with NASNET_LAUNCHER=none).' },
  { name: 'MAX_DELIVER', required: false, default: '5', meaning: 'Training attempts per child before it is given up.' },
  { name: 'ACK_WAIT_MS', required: false, default: '30000', meaning: 'How long a child may go without a progress tick before NATS redelivers it, ms (at least 1000).' },
  { name: 'HEARTBEAT_MS', required: false, default: '10000', meaning: 'Interval of the trainer heartbeat event, ms (at least 100).' },
  { name: 'NATS_CONNECT_ATTEMPTS', required: false, default: '10', meaning: 'Attempts to reach NATS at start before the trainer exits 1 (a pod that cannot reach its bus fails visibly instead of waiting forever).' },
  { name: 'NATS_CONNECT_DELAY_MS', required: false, default: '500', meaning: 'Wait after the first failed NATS connection attempt, ms; doubles after each failure up to 8000.' },
  { name: 'WASM_HEAP_LIMIT_MB', required: false, meaning: 'Most the wasm heap may grow to, MiB (at least 64; keep it under the pod\'s memory limit): a child needing more fails with the reason instead of the pod being OOM-killed. Default: the engine\'s.' },
  { name: 'POD_MEMORY_LIMIT_BYTES', required: false, meaning: 'The pod\'s memory limit in bytes (the Job template sets it from limits.memory through the downward API): the wasm heap is kept a safe margin below it (WASM_HEAP_LIMIT_MB, when lower, wins).' },
  { name: 'POD_CPU_REQUEST', required: false, meaning: 'The pod\'s CPU request in whole cores, rounded up (the Job template sets it from requests.cpu through the downward API: the share the scheduler reserves for it): the wasm backend trains on that many threads unless NAS_THREADS says otherwise.' },
  { name: 'NAS_THREADS', required: false, default: '<POD_CPU_REQUEST, else the cores this process may use>, at most 8', meaning: 'Threads one child trains on with the wasm backend (1-8). Threads beyond the cores a pod gets wait on each other.' },
  { name: 'TRAINER_STDIN_LIFELINE', required: false, default: 'false', meaning: 'true: standard input is a pipe from the process that started this trainer (the local launcher sets it); when it closes, that process is gone, killed or not, and the trainer stops as on SIGTERM instead of living on as an orphan.' },
  { name: 'NAS_BACKEND', required: false, default: 'auto', meaning: `Tensor backend: ${BACKEND_NAMES.join(', ')} (auto takes the fastest that starts here).` },
  { name: 'TF_FORCE_GPU_ALLOW_GROWTH', required: false, readBy: 'libtensorflow', meaning: 'Read by libtensorflow (tensorflow backend on a GPU), not by our code: true lets it grow GPU memory instead of taking it all at start.' },
];

/** Settings of a cluster trainer process. */
export interface TrainerConfig {
  nats: NatsSettings;
  natsToken?: string;
  trainerId: string;
  searchId?: string;
  /** Training attempts per child. @default 5 */
  maxAttempts: number;
  /** @default 30000 */
  ackWaitMs: number;
  /** @default 10000 */
  heartbeatMs: number;
  /** Attempts to connect to NATS at start. @default 10 */
  connectAttempts: number;
  /** Wait after the first failed attempt, doubling up to 8 s. @default 500 */
  connectDelayMs: number;
  /** Unset: the engine's default. */
  wasmHeapLimitMb?: number;
  /** The pod's memory limit (downward API); unset outside a pod. */
  podMemoryLimitBytes?: number;
  /** @default 'auto' */
  backend: BackendName;
  /** NAS_THREADS; unset: from the pod's CPU request (wasmThreadsFor). */
  threads?: number;
  /** The pod's CPU request in cores (downward API); unset outside a pod. */
  podCpuRequest?: number;
  /** TRAINER_STDIN_LIFELINE: stop when standard input closes (the starting process is gone). @default false */
  stdinLifeline: boolean;
}

const ID = /^[-_.A-Za-z0-9]{1,200}$/;

/**
 * Reads the variables in VARIABLES; throws ConfigError naming the first bad
 * one. `host` names the trainer when TRAINER_ID is unset.
 */
export function trainerConfigFromEnv(env: Env, host: { hostname: string; pid: number }): TrainerConfig {
  const nats = natsSettingsFromEnv(env);
  const natsToken = readString(env, 'NATS_TOKEN', { secret: true });
  const trainerId = readString(env, 'TRAINER_ID', { pattern: ID, expected: '1 to 200 characters of A-Z a-z 0-9 - _ .' })?.trim() ?? `${host.hostname}-${host.pid}`;
  const searchId = readString(env, 'SEARCH_ID', { pattern: ID, expected: 'a search id (1 to 200 characters of A-Z a-z 0-9 - _ .)' })?.trim();
  const wasmHeapLimitMb = readInteger(env, 'WASM_HEAP_LIMIT_MB', { min: 64 });
  const podMemoryLimitBytes = readInteger(env, 'POD_MEMORY_LIMIT_BYTES', { min: 1 });
  const threads = readInteger(env, 'NAS_THREADS', { min: 1, max: 8 });
  const podCpuRequest = readInteger(env, 'POD_CPU_REQUEST', { min: 1 });
  return {
    nats,
    ...(natsToken !== undefined ? { natsToken } : {}),
    trainerId,
    ...(searchId !== undefined ? { searchId } : {}),
    maxAttempts: readInteger(env, 'MAX_DELIVER', { default: 5, min: 1 }),
    ackWaitMs: readInteger(env, 'ACK_WAIT_MS', { default: 30_000, min: 1000 }),
    heartbeatMs: readInteger(env, 'HEARTBEAT_MS', { default: 10_000, min: 100 }),
    connectAttempts: readInteger(env, 'NATS_CONNECT_ATTEMPTS', { default: 10, min: 1 }),
    connectDelayMs: readInteger(env, 'NATS_CONNECT_DELAY_MS', { default: 500, min: 0 }),
    ...(wasmHeapLimitMb !== undefined ? { wasmHeapLimitMb } : {}),
    ...(podMemoryLimitBytes !== undefined ? { podMemoryLimitBytes } : {}),
    backend: readEnum(env, 'NAS_BACKEND', BACKEND_NAMES, 'auto'),
    ...(threads !== undefined ? { threads } : {}),
    ...(podCpuRequest !== undefined ? { podCpuRequest } : {}),
    stdinLifeline: readBoolean(env, 'TRAINER_STDIN_LIFELINE', false),
  };
}

/**
 * Threads a child trains on: NAS_THREADS, else the pod's CPU request, never
 * more than the cores this process may use (`available`) nor 8 (the
 * engine's most). A container sees the node's cores, not its CPU quota:
 * without the request a trainer on a 64-core node would run 8 threads on a
 * 2-core share, its threads waiting on each other.
 */
export function wasmThreadsFor(config: Pick<TrainerConfig, 'threads' | 'podCpuRequest'>, available: number): number {
  if (config.threads !== undefined) return config.threads;
  return Math.max(1, Math.min(8, available, config.podCpuRequest ?? available));
}

const MiB = 1024 * 1024;
/**
 * What the process needs besides the wasm heap: V8's own heap, TensorFlow.js
 * and the modules, the data set and I/O buffers. At least 384 MiB (an idle
 * trainer's RSS is about 250 MiB) or a quarter of the pod's limit, whichever
 * is more, so a child that fills the heap fails as a child (the engine's
 * heap-limit error) before the kernel OOM-kills the pod.
 */
export function podHeapReserveBytes(limitBytes: number): number {
  return Math.max(384 * MiB, Math.ceil(limitBytes / 4));
}

/**
 * The wasm heap limit a trainer uses, MiB: the lower of WASM_HEAP_LIMIT_MB and
 * the pod's memory limit less podHeapReserveBytes; undefined when neither is
 * set (the engine's default). Throws ConfigError when the pod's limit leaves
 * less than 64 MiB of heap.
 */
export function effectiveWasmHeapLimitMb(config: Pick<TrainerConfig, 'wasmHeapLimitMb' | 'podMemoryLimitBytes'>): number | undefined {
  if (config.podMemoryLimitBytes === undefined) return config.wasmHeapLimitMb;
  const fromPod = Math.floor((config.podMemoryLimitBytes - podHeapReserveBytes(config.podMemoryLimitBytes)) / MiB);
  if (fromPod < 64) {
    throw new ConfigError('POD_MEMORY_LIMIT_BYTES', String(config.podMemoryLimitBytes),
      `a memory limit that leaves the wasm heap at least 64 MiB (at least ${Math.ceil((64 * MiB + 384 * MiB) / MiB)} MiB)`);
  }
  return config.wasmHeapLimitMb === undefined ? fromPod : Math.min(config.wasmHeapLimitMb, fromPod);
}
