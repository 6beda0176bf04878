import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { cellToText, writeSearchReport } from '@nasnet/report';
import { SearchLoop, normalizeSpec, type ChildExecutor, type SearchSpec, type SearchState } from '@nasnet/search';
import { LOCAL_WORKER_ENTRY, LocalWorkerPool } from '@nasnet/trainer';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';
import { formatDuration } from './format.js';
import { REMOTE_SUBCOMMANDS, searchRemoteCommand } from './search-remote.js';
import { SearchFolder } from './search-files.js';
import { SearchProgress } from './search-progress.js';

const HELP = `usage: nasctl search --local [options]
       nasctl search <submit|watch|get|list|top|cancel> ...   (a controller over gRPC; see nasctl search submit --help)

Runs a whole NASNet search on this machine: the controller in this process,
worker processes training children, a report folder at the end.
Then, as in the paper, the top K unique cells are retrained with a larger
network for longer, and that retraining decides the best cell (the one
exported to model/).

  --budget N          children to train (default 24)
  --workers N         worker processes (default: number of cores)
  --threads N         threads each worker trains on, 1-8 (default: cores / workers,
                      at least 1: one worker per core keeps every core busy
                      without threads waiting on each other)
  --data SPEC         mnist | synthetic | cifar10:PATH (default mnist)
  --strategy S        ppo | random | evolution (default ppo)
  --seed N            seed of the whole search (default 1)
  --out DIR           report folder (default runs/search-<strategy>-<seed>)
  --epochs N          epochs per child (default 1)
  --train-limit N     training images per child, 0 = all (default 2000)
  --val-limit N       validation images for the reward, 0 = all (default 1000)
  --filters N         initial filters F0 of a child (default 8)
  --cells N           normal cells per stack N (default 1)
  --batch N           batch size (default 32)
  --lr X              child learning rate (default 0.1)
  --checkpoint-cells  recompute each cell in the backward pass instead of keeping its
                      activations: peak activation memory about a quarter, each
                      step slower (about one more forward pass); for children too
                      large for memory otherwise (default off)
  --controller-lr X   PPO learning rate (default 0.00035, the paper's)
  --controller-batch N  architectures per PPO update (default 20, the paper's)
  --top-k N           unique cells retrained at the end, 0 = none (default 2; the paper: 250)
  --final-epochs N    epochs of that retraining (default 2 x --epochs)
  --final-filters N   F0 of the retrained networks (default 2 x --filters)
  --final-cells N     N of the retrained networks (default --cells)
  --resume            continue the search saved in --out (with --checkpoint-cells:
                      from now on with cell checkpointing)
  --json              end with one JSON line summarising the result

Exit status: 0 when the search succeeded, 1 when it failed or was
interrupted, 2 for a bad command line.`;

export async function searchCommand(argv: string[], io: CliIO): Promise<number> {
  if (argv[0] && (REMOTE_SUBCOMMANDS as readonly string[]).includes(argv[0])) return searchRemoteCommand(argv[0], argv.slice(1), io);
  const { values } = parseArgs({
    args: argv,
    options: {
      local: { type: 'boolean', default: false },
      budget: { type: 'string', default: '24' },
      workers: { type: 'string' },
      threads: { type: 'string' },
      data: { type: 'string', default: 'mnist' },
      strategy: { type: 'string', default: 'ppo' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
      epochs: { type: 'string', default: '1' },
      'train-limit': { type: 'string', default: '2000' },
      'val-limit': { type: 'string', default: '1000' },
      filters: { type: 'string', default: '8' },
      cells: { type: 'string', default: '1' },
      batch: { type: 'string', default: '32' },
      lr: { type: 'string', default: '0.1' },
      'checkpoint-cells': { type: 'boolean', default: false },
      'controller-lr': { type: 'string', default: '0.00035' },
      'controller-batch': { type: 'string', default: '20' },
      'top-k': { type: 'string', default: '2' },
      'final-epochs': { type: 'string' },
      'final-filters': { type: 'string' },
      'final-cells': { type: 'string' },
      resume: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  if (!values.local) throw new UsageError('give --local to run the search on this machine, or a subcommand (submit, watch, get, list, top, cancel) to use a controller');
  const workers = values.workers === undefined ? Math.max(1, cpus().length) : int('--workers', values.workers, 1);
  const threads = values.threads === undefined ? Math.max(1, Math.min(8, Math.floor(cpus().length / workers))) : int('--threads', values.threads, 1);
  if (threads > 8) throw new UsageError(`--threads must be 1 to 8, got ${threads}`);
  const seed = int('--seed', values.seed, 0);
  const strategy = values.strategy!;
  const folder = new SearchFolder(resolve(values.out ?? join('runs', `search-${strategy}-${seed}`)));

  let resumeState: SearchState | undefined;
  let spec: SearchSpec;
  if (values.resume) {
    resumeState = folder.load();
    spec = resumeState.spec;
    // The one recipe flag a resume takes: a search that ran out of memory goes on with checkpointing,
    // which changes memory and time, not what a child learns (the same gradients to float32 rounding).
    if (values['checkpoint-cells']) spec = { ...spec, recipe: { ...spec.recipe, checkpointCells: true } };
  } else {
    spec = specFromFlags(values, strategy, seed, workers);
    folder.reset();
  }

  const progress = new SearchProgress(process.stderr, spec, resumeState ? resumeState.entries.filter((e) => e.state === 'done').length : 0);
  let backendLine = '';
  const pool = new LocalWorkerPool({
    workers,
    // NAS_BACKEND, read once by main() (config.ts): the workers start the backend they are told.
    settings: { backend: io.config.backend, threads },
    entry: LOCAL_WORKER_ENTRY,
    onReady: (_w, backend, reason) => { if (!backendLine) { backendLine = `${backend} (${reason})`; progress.log(`workers: ${workers} x ${backendLine}`); } },
    onLog: (w, line) => { if (!line.startsWith('[engine]')) progress.log(`worker ${w}: ${line}`); },
  });
  // Final-phase children export their trained network; the report copies the winner's.
  const executor: ChildExecutor = {
    execute: (task, hooks) => pool.execute(task.phase === 'final' ? { ...task, exportDir: folder.modelDir(task.childId) } : task, hooks),
  };
  const loop = new SearchLoop(spec, {
    searchId: spec.name,
    executor,
    ...(resumeState ? { state: resumeState } : {}),
    onEvent: (e) => {
      folder.appendEvent(e);
      progress.onEvent(e);
    },
    onCheckpoint: (state) => folder.save(state),
  });
  const stop = () => loop.cancel('interrupted (resume with --resume)');
  process.once('SIGINT', stop);
  let state: SearchState;
  try {
    state = await loop.run();
  } finally {
    process.off('SIGINT', stop);
    progress.finish();
    await pool.close();
  }

  const { summary, search } = writeSearchReport(folder.dir, state, { backend: backendLine, modelsDir: folder.modelsDir });
  const c = search.counts;
  io.out('');
  io.out(`search ${state.outcome}${state.reason ? ` (${state.reason})` : ''}: ${c.trained} children trained, ${c.cached} cached, ${c.failed} failed, ${c.diverged} diverged, ${formatDuration(state.elapsedMs / 1000)}`);
  if (state.outcome === 'failed') io.err(`nasctl search: search failed: ${state.reason ?? 'no reason recorded'}`);
  const best = search.best;
  if (best) {
    if (summary.retrained.length > 0) {
      io.out(`final phase: ${summary.retrained.length} cell(s) retrained; by retrained reward: ${summary.retrained.map((a) => `child ${a.childId} ${a.finalReward!.toFixed(4)} (search ${a.reward.toFixed(4)})`).join(', ')}`);
    }
    io.out(`best child ${best.childId}: validation accuracy ${best.reward.toFixed(4)}${best.finalReward !== undefined ? `, retrained ${best.finalReward.toFixed(4)} (the final phase decided)` : ''}`);
    io.out(`genotype ${summary.best!.genotype}`);
    for (const line of [...cellToText(best.genotype.normal, 'normal'), ...cellToText(best.genotype.reduction, 'reduction')]) io.out(line);
  }
  io.out(`report: ${folder.dir}/ (report.md, ${best ? 'best-cells.svg, ' : ''}reward-curve.svg, results.json${summary.model ? ', model/' : ''})`);
  if (values.json) io.out(JSON.stringify({ out: folder.dir, ...summary }));
  return state.outcome === 'succeeded' ? 0 : 1;
}

type Flags = Record<string, string | boolean | undefined>;

/** The search spec the command line asks for; the final phase defaults to a network twice as wide, trained twice as long. */
function specFromFlags(values: Flags, strategy: string, seed: number, workers: number): SearchSpec {
  const str = (name: string) => values[name] as string | undefined;
  const epochs = int('--epochs', str('epochs'), 1);
  const filters = int('--filters', str('filters'), 1);
  const cells = int('--cells', str('cells'), 1);
  return normalizeSpec({
    name: `local-${strategy}-${seed}`,
    dataset: str('data')!,
    strategy: strategy as SearchSpec['strategy'],
    seed,
    budget: { architectures: int('--budget', str('budget'), 1), concurrency: workers },
    recipe: {
      epochs,
      batchSize: int('--batch', str('batch'), 1),
      initialFilters: filters,
      cells,
      learningRate: num('--lr', str('lr')),
      trainLimit: int('--train-limit', str('train-limit'), 0),
      validationLimit: int('--val-limit', str('val-limit'), 0),
      checkpointCells: values['checkpoint-cells'] === true,
    },
    controller: { learningRate: num('--controller-lr', str('controller-lr')), batchSize: int('--controller-batch', str('controller-batch'), 1) },
    finalPhase: {
      topK: int('--top-k', str('top-k'), 0),
      epochs: str('final-epochs') ? int('--final-epochs', str('final-epochs'), 1) : 2 * epochs,
      filters: str('final-filters') ? int('--final-filters', str('final-filters'), 1) : 2 * filters,
      cells: str('final-cells') ? int('--final-cells', str('final-cells'), 1) : cells,
    },
  });
}

function int(flag: string, raw: string | undefined, min: number): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

function num(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got '${raw}'`);
  return n;
}
