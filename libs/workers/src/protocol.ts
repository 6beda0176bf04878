import type { ChildProgress, ChildResult, ChildTask } from '@nasnet/search';

/** Parent -> worker. */
export type ToWorker =
  | { type: 'task'; task: ChildTask }
  | { type: 'cancel'; childId: number }
  | { type: 'shutdown' };

/** Worker -> parent. */
export type FromWorker =
  | { type: 'ready'; backend: string; reason: string }
  | { type: 'progress'; childId: number; progress: ChildProgress }
  | { type: 'result'; childId: number; result: ChildResult }
  | { type: 'error'; childId: number; message: string };

/** What a worker process does with one task. */
export type TrainFunction = (
  task: ChildTask,
  hooks: { onProgress: (p: ChildProgress) => void; signal: AbortSignal },
) => Promise<ChildResult>;
