import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, appendFileSync, cpSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cellToText, genotypeToSvg, rewardCurveSvg, sparkline } from '@nasnet/report';
import { SearchLoop, normalizeSpec, type ChildExecutor, type SearchEvent, type SearchSpec, type SearchState } from '@nasnet/search';
import { formatGenotype } from '@nasnet/search-space';
import { LOCAL_WORKER_ENTRY, LocalWorkerPool } from '@nasnet/trainer';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';
import { ProgressBar } from './progress.js';
import { formatDuration } from './format.js';
import { REMOTE_SUBCOMMANDS, searchRemoteCommand } from './search-remote.js';

const HELP = `usage: nasctl search --local [options]
       nasctl search <submit|watch|get|list|top|cancel> ...   (a controller over gRPC; see nasctl search submit --help)

Runs a whole NASNet search on this machine: the controller in this process,
one worker process per core training children, a report folder at the end.

  --budget N          children to train (default 24)
  --workers N         worker processes (default: number of cores)
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
  --controller-lr X   PPO learning rate (default 0.00035, the paper's)
  --controller-batch N  architectures per PPO update (default 20, the paper's)
  --top-k N           best cells retrained at the end (default 1; the best is exported)
  --final-epochs N    epochs of that retraining (default 2 x --epochs)
  --resume            continue the search saved in --out
  --json              end with one JSON line summarising the result`;

export async function searchCommand(argv: string[], io: CliIO): Promise<number> {
  if (argv[0] && (REMOTE_SUBCOMMANDS as readonly string[]).includes(argv[0])) return searchRemoteCommand(argv[0], argv.slice(1), io);
  const { values } = parseArgs({
    args: argv,
    options: {
      local: { type: 'boolean', default: false },
      budget: { type: 'string', default: '24' },
      workers: { type: 'string' },
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
      'controller-lr': { type: 'string', default: '0.00035' },
      'controller-batch': { type: 'string', default: '20' },
      'top-k': { type: 'string', default: '1' },
      'final-epochs': { type: 'string' },
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
  const epochs = int('--epochs', values.epochs, 1);
  const seed = int('--seed', values.seed, 0);
  const strategy = values.strategy!;
  const out = resolve(values.out ?? join('runs', `search-${strategy}-${seed}`));
  const statePath = join(out, 'state.json');

  let resumeState: SearchState | undefined;
  let spec: SearchSpec;
  if (values.resume) {
    if (!existsSync(statePath)) throw new UsageError(`--resume: no saved search in ${statePath}`);
    resumeState = JSON.parse(readFileSync(statePath, 'utf8')) as SearchState;
    spec = resumeState.spec;
  } else {
    spec = normalizeSpec({
      name: `local-${strategy}-${seed}`,
      dataset: values.data!,
      strategy: strategy as SearchSpec['strategy'],
      seed,
      budget: { architectures: int('--budget', values.budget, 1), concurrency: workers },
      recipe: {
        epochs,
        batchSize: int('--batch', values.batch, 1),
        initialFilters: int('--filters', values.filters, 1),
        cells: int('--cells', values.cells, 1),
        learningRate: num('--lr', values.lr),
        trainLimit: int('--train-limit', values['train-limit'], 0),
        validationLimit: int('--val-limit', values['val-limit'], 0),
      },
      controller: { learningRate: num('--controller-lr', values['controller-lr']), batchSize: int('--controller-batch', values['controller-batch'], 1) },
      finalPhase: { topK: int('--top-k', values['top-k'], 0), epochs: values['final-epochs'] ? int('--final-epochs', values['final-epochs'], 1) : 2 * epochs },
    });
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(join(out, 'models'), { recursive: true });

  const bar = new ProgressBar(process.stderr, spec.budget.architectures + spec.finalPhase.topK);
  let backendLine = '';
  const pool = new LocalWorkerPool({
    workers,
    // NAS_BACKEND, read once by main() (config.ts): the workers start the backend they are told.
    settings: { backend: io.config.backend },
    entry: LOCAL_WORKER_ENTRY,
    onReady: (w, backend, reason) => { if (!backendLine) { backendLine = `${backend} (${reason})`; bar.log(`workers: ${workers} x ${backendLine}`); } },
    onLog: (w, line) => { if (!line.startsWith('[engine]')) bar.log(`worker ${w}: ${line}`); },
  });
  // Final-phase children export their trained network.
  const executor: ChildExecutor = {
    execute: (task, hooks) => pool.execute(task.phase === 'final' ? { ...task, exportDir: join(out, 'models', `child-${task.childId}`) } : task, hooks),
  };

  const eventsPath = join(out, 'events.jsonl');
  let done = resumeState ? resumeState.entries.filter((e) => e.state === 'done').length : 0;
  let best = 0;
  const rewards: number[] = [];
  let status = 'starting';
  const onEvent = (e: SearchEvent) => {
    appendFileSync(eventsPath, `${JSON.stringify({ time: Date.now(), ...e })}\n`);
    switch (e.type) {
      case 'child_progress': {
        const p = e.progress;
        status = `child ${p.childId} ep ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} ${p.imagesPerSec.toFixed(0)} img/s`;
        break;
      }
      case 'child_finished': {
        done++;
        if (e.phase === 'search') rewards.push(e.result.reward);
        const r = e.result;
        bar.log(`child ${String(e.childId).padStart(3)} ${e.phase === 'final' ? 'final ' : ''}${r.status}${e.cached ? ' (cached)' : ''} reward ${r.reward.toFixed(4)} in ${formatDuration(r.trainSeconds)}${r.reason ? ` - ${r.reason}` : ''}`);
        break;
      }
      case 'best_improved':
        best = e.reward;
        break;
      case 'policy_updated':
        bar.log(`policy update ${e.update.update}: mean reward ${e.update.meanReward.toFixed(4)}, baseline ${e.update.baseline.toFixed(4)}, entropy ${e.update.entropy.toFixed(2)}, ${e.update.updateMs.toFixed(0)} ms`);
        break;
      case 'phase':
        if (e.phase === 'final') bar.log(`retraining the best ${spec.finalPhase.topK} cell(s) for ${spec.finalPhase.epochs} epochs`);
        break;
      default:
        break;
    }
    bar.update(done, `best ${best.toFixed(4)} ${sparkline(rewards.slice(-20))} | ${status}`);
  };
  const loop = new SearchLoop(spec, {
    searchId: spec.name,
    executor,
    ...(resumeState ? { state: resumeState } : {}),
    onEvent,
    onCheckpoint: (state) => {
      writeFileSync(`${statePath}.tmp`, JSON.stringify(state));
      renameSync(`${statePath}.tmp`, statePath);
    },
  });
  const stop = () => loop.cancel('interrupted (resume with --resume)');
  process.once('SIGINT', stop);
  let state: SearchState;
  try {
    state = await loop.run();
  } finally {
    process.off('SIGINT', stop);
    bar.finish();
    await pool.close();
  }
  const summary = writeReport(out, state, backendLine);
  io.out('');
  io.out(`search ${state.outcome}${state.reason ? ` (${state.reason})` : ''}: ${summary.trained} children trained, ${summary.cached} cached, ${summary.failed} failed, ${formatDuration(state.elapsedMs / 1000)}`);
  if (summary.best) {
    io.out(`best child ${summary.best.childId}: validation accuracy ${summary.best.reward.toFixed(4)}${summary.best.finalReward !== undefined ? `, retrained ${summary.best.finalReward.toFixed(4)}` : ''}`);
    io.out(`genotype ${summary.best.genotype}`);
    const g = state.entries[summary.best.childId]!.genotype;
    for (const line of [...cellToText(g.normal, 'normal'), ...cellToText(g.reduction, 'reduction')]) io.out(line);
  }
  io.out(`report: ${out}/ (report.md, best-cells.svg, reward-curve.svg, results.json${summary.model ? ', model/' : ''})`);
  if (values.json) io.out(JSON.stringify({ out, outcome: state.outcome, ...summary }));
  return state.outcome === 'succeeded' ? 0 : 1;
}

interface Summary {
  trained: number;
  cached: number;
  failed: number;
  best?: { childId: number; reward: number; hash: string; genotype: string; finalReward?: number };
  model?: string;
}

/** Writes results.json, the drawings and the exported best network. */
function writeReport(out: string, state: SearchState, backend: string): Summary {
  const search = state.entries.filter((e) => e.phase === 'search');
  const final = state.entries.filter((e) => e.phase === 'final');
  const trained = search.filter((e) => e.duplicateOf === undefined);
  const ranked = trained.filter((e) => e.result?.status === 'ok').sort((a, b) => b.result!.reward - a.result!.reward);
  const bestEntry = ranked[0];
  const summary: Summary = {
    trained: trained.length,
    cached: search.length - trained.length,
    failed: trained.filter((e) => e.result && e.result.status !== 'ok' && e.result.status !== 'early_stopped').length,
  };
  if (bestEntry) {
    const retrained = final.find((f) => f.hash === bestEntry.hash && f.result?.status === 'ok');
    summary.best = {
      childId: bestEntry.childId, reward: bestEntry.result!.reward, hash: bestEntry.hash, genotype: formatGenotype(bestEntry.genotype),
      ...(retrained ? { finalReward: retrained.result!.reward } : {}),
    };
    writeFileSync(join(out, 'best-cells.svg'), genotypeToSvg(bestEntry.genotype, {
      title: `Best cells: child ${bestEntry.childId}, validation accuracy ${bestEntry.result!.reward.toFixed(4)}`,
      subtitle: `${state.spec.strategy} search, seed ${state.spec.seed}, ${state.spec.dataset}`,
    }));
    ranked.slice(0, 3).forEach((e, i) => writeFileSync(join(out, `top-${i + 1}-child-${e.childId}.svg`), genotypeToSvg(e.genotype, { title: `#${i + 1}: child ${e.childId}, validation accuracy ${e.result!.reward.toFixed(4)}` })));
    if (retrained) {
      const from = join(out, 'models', `child-${retrained.childId}`);
      if (existsSync(join(from, 'model.json'))) {
        cpSync(from, join(out, 'model'), { recursive: true });
        summary.model = join(out, 'model');
      }
    }
  }
  const points = search.filter((e) => e.result).map((e) => ({ child: e.childId, reward: e.result!.reward, strategy: state.spec.strategy }));
  writeFileSync(join(out, 'reward-curve.svg'), rewardCurveSvg(points, { title: `Reward per child: ${state.spec.strategy}, seed ${state.spec.seed}` }));
  const results = {
    spec: state.spec,
    outcome: state.outcome,
    reason: state.reason,
    backend,
    elapsedSeconds: state.elapsedMs / 1000,
    summary,
    children: state.entries.map((e) => ({
      childId: e.childId, phase: e.phase, hash: e.hash, genotype: formatGenotype(e.genotype), duplicateOf: e.duplicateOf,
      status: e.result?.status, reward: e.result?.reward, reason: e.result?.reason, validationByEpoch: e.result?.validationByEpoch,
      trainSeconds: e.result?.trainSeconds, paramCount: e.result?.paramCount, multAdds: e.result?.multAdds, trainer: e.result?.trainer,
    })),
    policyUpdates: state.updates,
  };
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2));
  const md = [
    `# Search ${state.spec.name}`,
    '',
    `- strategy: ${state.spec.strategy}, seed ${state.spec.seed}, data ${state.spec.dataset}, backend ${backend}`,
    `- outcome: ${state.outcome}${state.reason ? ` (${state.reason})` : ''}, ${formatDuration(state.elapsedMs / 1000)}`,
    `- children: ${summary.trained} trained, ${summary.cached} cached, ${summary.failed} failed`,
    summary.best ? `- best: child ${summary.best.childId}, validation accuracy ${summary.best.reward.toFixed(4)}${summary.best.finalReward !== undefined ? ` (retrained: ${summary.best.finalReward.toFixed(4)})` : ''}` : '- best: none',
    summary.best ? `- genotype: \`${summary.best.genotype}\`` : '',
    '',
    '![best cells](best-cells.svg)',
    '',
    '![reward curve](reward-curve.svg)',
    '',
  ].join('\n');
  writeFileSync(join(out, 'report.md'), md);
  return summary;
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
