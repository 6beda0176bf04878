import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import * as pb from '@nasnet/proto';
import { cellToText, sparkline } from '@nasnet/report';
import { genotypeFromProto } from '@nasnet/proto';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connection, unary, RemoteError } from './client.js';
import { ProgressBar } from './progress.js';
import { formatCount } from './format.js';
import { requireBooleans } from './spec-fields.js';

export const REMOTE_SUBCOMMANDS = ['submit', 'watch', 'get', 'list', 'top', 'cancel'] as const;

const HELP = `usage: nasctl search <submit|watch|get|list|top|cancel> [args] [connection flags]

  submit SPEC.yaml|SPEC.json [--request-id ID] [--profile NAME] [--checkpoint-cells] [--watch]
                                                           start a search (--profile: the
                                                           operator's trainer profile, over
                                                           the spec's resources.profile;
                                                           --checkpoint-cells: sets
                                                           recipe.checkpointCells, below)
  watch ID [--from SEQ]                                    live progress until it ends
  get ID                                                   status as JSON
  list [--state running|succeeded|...]                     searches, newest first
  top ID [-k 5]                                            the best cells, drawn
  cancel ID [--reason TEXT]                                stop a search

${CONNECTION_HELP}

A spec file is the nas.v1.SearchSpec message in its JSON form (YAML allowed),
e.g. {name: demo, dataset: mnist, strategy: ppo, seed: 1,
      budget: {maxArchitectures: 100, maxConcurrentChildren: 8},
      resources: {profile: gpu}}.
recipe: {checkpointCells: true} trains each child with cell checkpointing:
each cell is recomputed in the backward pass instead of keeping its
activations, so peak activation memory is about a quarter and each step is
slower (about one more forward pass); for children too large otherwise.
Profiles (image, CPU, memory, GPUs, backend) are the operator's: a name the
controller does not know is refused, naming the ones it has.`;

const STATE_NAMES = ['unspecified', 'pending', 'running', 'succeeded', 'failed', 'cancelled'];

/** Reads a spec file (YAML or JSON, proto JSON names, strategy shorthand allowed). */
export function readSpecFile(path: string): pb.SearchSpec {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (cause) { throw new UsageError(`cannot read spec '${path}': ${(cause as Error).message}`, { cause }); }
  let value: unknown;
  try { value = parseYaml(text); } catch (cause) { throw new UsageError(`spec '${path}' is neither YAML nor JSON: ${(cause as Error).message}`, { cause }); }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`spec '${path}' must hold one object`);
  const obj = value as Record<string, unknown>;
  if (typeof obj.strategy === 'string' && /^[a-z]+$/.test(obj.strategy)) obj.strategy = `SEARCH_STRATEGY_${obj.strategy.toUpperCase()}`;
  requireBooleans(path, obj, 'recipe', ['cosineSchedule', 'auxHead', 'checkpointCells']);
  return pb.SearchSpec.fromJSON(obj);
}

export async function searchRemoteCommand(sub: string, argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      'request-id': { type: 'string' },
      profile: { type: 'string' },
      'checkpoint-cells': { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      from: { type: 'string' },
      state: { type: 'string', multiple: true },
      k: { type: 'string', short: 'k', default: '5' },
      reason: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) { io.out(HELP); return 0; }
  const conn = connection(values, io.config);
  const client = new pb.SearchServiceClient(...conn.args);
  const id = () => { if (!positionals[0]) throw new UsageError(`search ${sub} needs a search id`); return positionals[0]; };
  try {
    switch (sub) {
      case 'submit': {
        if (!positionals[0]) throw new UsageError('search submit needs a spec file');
        const spec = readSpecFile(positionals[0]);
        if (values.profile !== undefined) {
          if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(values.profile)) throw new UsageError(`--profile must be a profile name (lower-case letters, digits and -, at most 63), got '${values.profile}'`);
          spec.resources = pb.TrainerResources.fromPartial({ ...(spec.resources ?? {}), profile: values.profile });
        }
        if (values['checkpoint-cells']) spec.recipe = pb.ChildTrainingRecipe.fromPartial({ ...(spec.recipe ?? {}), checkpointCells: true });
        const res = await unary<pb.SubmitSearchResponse>(client, client.submitSearch, { spec, requestId: values['request-id'] ?? '' });
        io.out(`submitted ${res.searchId}`);
        if (values.json) io.out(JSON.stringify({ searchId: res.searchId }));
        return values.watch ? await watch(client, res.searchId, 0, io) : 0;
      }
      case 'watch':
        return await watch(client, id(), values.from ? Number(values.from) : 0, io);
      case 'get': {
        const res = await unary<pb.GetSearchResponse>(client, client.getSearch, { searchId: id() });
        io.out(JSON.stringify(pb.SearchStatus.toJSON(res.status!), null, 2));
        return 0;
      }
      case 'list': {
        const states = (values.state ?? []).map((s) => {
          const n = STATE_NAMES.indexOf(s);
          if (n <= 0) throw new UsageError(`--state must be one of ${STATE_NAMES.slice(1).join(', ')}, got '${s}'`);
          return n as pb.SearchState;
        });
        const res = await unary<pb.ListSearchesResponse>(client, client.listSearches, { pageSize: 100, pageToken: '', states });
        io.out(`${'SEARCH'.padEnd(24)} ${'STATE'.padEnd(10)} ${'STRATEGY'.padEnd(9)} ${'TRAINED'.padStart(9)} ${'BEST'.padStart(7)}  NAME`);
        for (const s of res.searches) {
          const strategy = (pb.searchStrategyToJSON(s.spec?.strategy ?? 0)).replace('SEARCH_STRATEGY_', '').toLowerCase();
          io.out(`${s.searchId.padEnd(24)} ${STATE_NAMES[s.state]!.padEnd(10)} ${strategy.padEnd(9)} ${`${s.counts?.trained ?? 0}/${s.spec?.budget?.maxArchitectures ?? 0}`.padStart(9)} ${s.bestReward.toFixed(4).padStart(7)}  ${s.spec?.name ?? ''}`);
        }
        if (values.json) io.out(JSON.stringify(res.searches.map((s) => pb.SearchStatus.toJSON(s))));
        return 0;
      }
      case 'top': {
        const k = Number(values.k);
        if (!Number.isInteger(k) || k < 1) throw new UsageError(`-k must be a positive integer, got '${values.k}'`);
        const res = await unary<pb.TopArchitecturesResponse>(client, client.topArchitectures, { searchId: id(), k });
        if (res.architectures.length === 0) io.out('no architecture has finished training yet');
        for (const a of res.architectures) {
          // Retrained cells rank first, by their retrained reward (the final phase decides).
          const retrained = a.finalReward !== undefined ? `  retrained ${a.finalReward.toFixed(4)}` : '';
          io.out(`#${a.rank}  child ${a.childId}  validation accuracy ${a.reward.toFixed(4)}${retrained}  ${formatCount(a.paramCount)} params  ${formatCount(a.multAdds)} mult-adds`);
          io.out(`    ${a.genotype?.text ?? ''}`);
          if (a.genotype?.normal && a.genotype.reduction) {
            const g = genotypeFromProto(a.genotype);
            for (const line of [...cellToText(g.normal, 'normal', { color: io.isTTY }), ...cellToText(g.reduction, 'reduction', { color: io.isTTY })]) io.out(`    ${line}`);
          }
          io.out('');
        }
        if (values.json) io.out(JSON.stringify(res.architectures.map((a) => pb.ArchitectureSummary.toJSON(a))));
        return 0;
      }
      case 'cancel': {
        const res = await unary<pb.CancelSearchResponse>(client, client.cancelSearch, { searchId: id(), reason: values.reason ?? '' });
        io.out(`cancel requested: ${res.status?.searchId} is ${STATE_NAMES[res.status?.state ?? 0]}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown search subcommand '${sub}'`);
    }
  } finally {
    client.close();
  }
}

async function watch(client: pb.SearchServiceClient, searchId: string, from: number, io: CliIO): Promise<number> {
  const status = await unary<pb.GetSearchResponse>(client, client.getSearch, { searchId });
  const total = (status.status?.spec?.budget?.maxArchitectures ?? 0) + (status.status?.spec?.finalPhase?.topK ?? 0);
  const bar = new ProgressBar(process.stderr, total);
  let done = 0, best = 0, final = 'unknown';
  const rewards: number[] = [];
  let line = '';
  await new Promise<void>((resolve, reject) => {
    const stream = client.watchSearch({ searchId, fromSequence: from });
    stream.on('data', (e: pb.SearchEvent) => {
      const ev = e.event;
      if (!ev) return;
      switch (ev.$case) {
        case 'childProgress': line = `child ${ev.value.childId} ep ${ev.value.epoch}/${ev.value.epochs} ${ev.value.imagesPerSec.toFixed(0)} img/s`; break;
        case 'childFinished': {
          done++;
          const r = ev.value.result!;
          rewards.push(r.reward);
          bar.log(`child ${r.childId.padStart(4)} ${pb.childStatusToJSON(r.status).replace('CHILD_STATUS_', '').toLowerCase()}${ev.value.cached ? ' (cached)' : ''} reward ${r.reward.toFixed(4)}${r.trainerId ? ` on ${r.trainerId}` : ''}${r.reason ? ` - ${r.reason}` : ''}`);
          break;
        }
        case 'bestImproved': best = ev.value.architecture?.reward ?? best; break;
        case 'policyUpdated': bar.log(`policy update ${ev.value.update}: mean reward ${ev.value.meanReward.toFixed(4)}, baseline ${ev.value.baseline.toFixed(4)}`); break;
        case 'stateChanged': final = STATE_NAMES[ev.value.current] ?? 'unknown'; if (ev.value.message) bar.log(ev.value.message); break;
        case 'log': bar.log(ev.value.message); break;
        default: break;
      }
      bar.update(done, `best ${best.toFixed(4)} ${sparkline(rewards.slice(-20))} | ${line}`);
    });
    stream.on('end', resolve);
    stream.on('error', (err: import('@grpc/grpc-js').ServiceError) => reject(new RemoteError(err)));
  });
  bar.finish();
  io.out(`search ${searchId} ${final}: ${done} children finished, best validation accuracy ${best.toFixed(4)}`);
  return final === 'succeeded' ? 0 : 1;
}
