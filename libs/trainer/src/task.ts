import { loadDataset, type ImageDataset } from '@nasnet/data';
import type { ChildProgress, ChildResult, ChildTask } from '@nasnet/search';
import { trainChild } from './train.js';

const datasets = new Map<string, Promise<ImageDataset>>();

/** Loads a data set once per process (children of a search share it). */
export function cachedDataset(spec: string): Promise<ImageDataset> {
  let p = datasets.get(spec);
  if (!p) {
    p = loadDataset(spec);
    datasets.set(spec, p);
    p.catch(() => datasets.delete(spec));
  }
  return p;
}

/**
 * Trains the child a ChildTask describes. A data-set error or a child that
 * cannot be built or runs out of memory fails this child with the reason;
 * it never takes the process down.
 */
export async function runChildTask(
  task: ChildTask,
  hooks: { onProgress?: (p: ChildProgress) => void; signal?: AbortSignal; log?: (line: string) => void } = {},
): Promise<ChildResult> {
  const started = performance.now();
  try {
    const dataset = await cachedDataset(task.dataset);
    const r = await trainChild({
      genotype: task.genotype, recipe: task.recipe, dataset, seed: task.seed, childId: task.childId,
      ...(task.earlyStop ? { earlyStop: task.earlyStop } : {}),
      ...(task.exportDir ? { exportDir: task.exportDir } : {}),
      ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
      ...(hooks.signal ? { signal: hooks.signal } : {}),
    });
    const { testAccuracy: _t, imagesPerSec: _i, steps: _s, ...result } = r;
    return result;
  } catch (err) {
    if (hooks.signal?.aborted) throw err;
    // The reason travels with the result; the stack stays with whoever runs the trainer.
    (hooks.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(`child ${task.childId} of ${task.searchId} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return {
      childId: task.childId, status: 'failed', reward: 0, reason: err instanceof Error ? err.message : String(err),
      validationByEpoch: [], trainSeconds: (performance.now() - started) / 1000, paramCount: 0, multAdds: 0,
    };
  }
}
