import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import * as pb from '@nasnet/proto';
import { genotypeToProto } from '@nasnet/proto';
import { formatGenotype, genotypeHash, type Genotype } from '@nasnet/search-space';
import { initialFiltersFor } from '@nasnet/network';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connection, unary, RemoteError } from './client.js';
import { resolveGenotype } from './genotype-arg.js';
import { ProgressBar } from './progress.js';
import { formatCount } from './format.js';
import { requireBooleans } from './spec-fields.js';

const HELP = `usage: nasctl transfer <start|watch|get|list|cancel> [args] [connection flags]

  start [SPEC.yaml] [flags] [--watch]   stack cells into a CIFAR or ImageNet network, train and export it
      --genotype NAME|TEXT|@FILE | --search ID   the cells: a genotype, or a finished search's best
      --layout cifar|imagenet|imagenet-large     (default cifar; imagenet = mobile, imagenet-large = NASNet-A Large)
      --cells N --filters F                      a fixed N@F (F = penultimate filters, the paper's)
      --cells N --initial-filters F0             or N with the first stack's filters (needed with --search)
      --budget-params P | --budget-mult-adds M   or the largest N@F within a budget
      --data SPEC                                cifar10:PATH | imagefolder:PATH | mnist | synthetic
      --epochs N --batch B --lr X --max-steps S  recipe (defaults: the layout's published recipe)
      --no-aux-head                              train without the auxiliary head (small images drop it anyway)
      --checkpoint-cells                         recompute each cell in the backward pass instead of keeping its
                                                 activations: peak activation memory about a quarter (CIFAR 6@768,
                                                 batch 32: 3.4 -> 0.8 GB), each step slower; for large networks
                                                 (also over a spec file; in one: recipe: {checkpointCells: true})
      --stem-multiplier M                        stem filters = M x F0 (cifar) or M x 32 (default 3, 1 mobile, 3 Large)
      --export DIR                               where the TensorFlow.js model goes
  watch ID | get ID | list | cancel ID

The server defaults to $NASCTL_TRANSFER_SERVER or 127.0.0.1:50052.

${CONNECTION_HELP}`;

const STATES = ['unspecified', 'pending', 'running', 'succeeded', 'failed', 'cancelled'];

const LAYOUT_FLAGS: Readonly<Record<string, pb.Layout>> = {
  cifar: pb.Layout.LAYOUT_CIFAR, imagenet: pb.Layout.LAYOUT_IMAGENET, 'imagenet-large': pb.Layout.LAYOUT_IMAGENET_LARGE,
};

/** The paper's N@F (F = penultimate filters); a server that does not send them gets N and F0 spelled out. */
function nAtF(st: pb.TransferStatus): string {
  return st.penultimateFilters ? `${st.cells}@${st.penultimateFilters}` : `N=${st.cells} F0=${st.filters}`;
}

function sizeLabel(st: pb.TransferStatus): string {
  return st.penultimateFilters ? `${nAtF(st)} (F0 ${st.filters})` : nAtF(st);
}

/** Test accuracy, or the validation accuracy when the data set has no test split. */
function accuracyText(result: pb.TransferResult): string {
  return result.hasTestSplit
    ? `test accuracy ${result.testAccuracy.toFixed(4)}`
    : `no test split, validation accuracy ${result.validationAccuracy.toFixed(4)}`;
}

export async function transferCommand(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      genotype: { type: 'string' }, search: { type: 'string' }, layout: { type: 'string', default: 'cifar' },
      cells: { type: 'string' }, filters: { type: 'string' }, 'initial-filters': { type: 'string' }, 'budget-params': { type: 'string' }, 'budget-mult-adds': { type: 'string' },
      data: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, 'max-steps': { type: 'string' },
      export: { type: 'string' }, seed: { type: 'string' }, watch: { type: 'boolean', default: false }, 'request-id': { type: 'string' },
      'no-aux-head': { type: 'boolean', default: false }, 'stem-multiplier': { type: 'string' },
      'checkpoint-cells': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (!sub || values.help || sub === 'help') { io.out(HELP); return sub ? 0 : 2; }
  const conn = connection(values, { ...io.config, server: io.config.transferServer });
  const client = new pb.TransferServiceClient(...conn.args);
  const id = () => { if (!positionals[0]) throw new UsageError(`transfer ${sub} needs a transfer id`); return positionals[0]; };
  try {
    switch (sub) {
      case 'start': {
        const spec = positionals[0] ? readTransferSpec(positionals[0]) : specFromFlags(values);
        if (values['checkpoint-cells']) spec.recipe = pb.TransferRecipe.fromPartial({ ...(spec.recipe ?? {}), checkpointCells: true });
        const res = await unary<pb.StartTransferResponse>(client, client.startTransfer, { spec, requestId: values['request-id'] ?? '' });
        const st = res.status!;
        io.out(`started ${st.transferId}: ${sizeLabel(st)}, ${formatCount(st.paramCount)} params, ${formatCount(st.multAdds)} mult-adds`);
        const filledRecipe = st.spec?.recipe;
        if (spec.recipe?.auxHead === undefined && filledRecipe?.auxHead === false) {
          io.err(`note: auxiliary head off: it does not fit ${filledRecipe.imageSize}x${filledRecipe.imageSize} images (the server dropped it; --no-aux-head says so explicitly)`);
        }
        if (values.json) {
          io.out(JSON.stringify({
            transferId: st.transferId, cells: st.cells, filters: st.penultimateFilters, initialFilters: st.filters, penultimateFilters: st.penultimateFilters,
            paramCount: st.paramCount, multAdds: st.multAdds,
          }));
        }
        return values.watch ? await watch(client, st.transferId, io) : 0;
      }
      case 'watch':
        return await watch(client, id(), io);
      case 'get': {
        const res = await unary<pb.GetTransferResponse>(client, client.getTransfer, { transferId: id() });
        io.out(JSON.stringify(pb.TransferStatus.toJSON(res.status!), null, 2));
        return 0;
      }
      case 'list': {
        const res = await unary<pb.ListTransfersResponse>(client, client.listTransfers, pb.ListTransfersRequest.fromPartial({ pageSize: 100 }));
        io.out(`${'TRANSFER'.padEnd(24)} ${'STATE'.padEnd(10)} ${'N@F'.padEnd(10)} ${'PARAMS'.padStart(8)} ${'TEST ACC'.padStart(8)}`);
        for (const t of res.transfers) {
          const acc = !t.result ? '' : t.result.hasTestSplit ? t.result.testAccuracy.toFixed(4) : 'no test';
          io.out(`${t.transferId.padEnd(24)} ${STATES[t.state]!.padEnd(10)} ${nAtF(t).padEnd(10)} ${formatCount(t.paramCount).padStart(8)} ${acc.padStart(8)}`);
        }
        return 0;
      }
      case 'cancel': {
        const res = await unary<pb.CancelTransferResponse>(client, client.cancelTransfer, pb.CancelTransferRequest.fromPartial({ transferId: id() }));
        io.out(`cancel requested: ${res.status?.transferId} is ${STATES[res.status?.state ?? 0]}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown transfer subcommand '${sub}'\n\n${HELP}`);
    }
  } finally {
    client.close();
  }
}

function readTransferSpec(path: string): pb.TransferSpec {
  let value: unknown;
  try { value = parseYaml(readFileSync(path, 'utf8')); } catch (cause) { throw new UsageError(`cannot read transfer spec '${path}': ${(cause as Error).message}`, { cause }); }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`transfer spec '${path}' must hold one object`);
  requireBooleans(path, value as Record<string, unknown>, 'recipe', ['auxHead', 'cutout', 'checkpointCells']);
  return pb.TransferSpec.fromJSON(value);
}

function positive(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got '${raw}'`);
  return n;
}

function positiveInteger(flag: string, raw: string | undefined): number | undefined {
  const n = positive(flag, raw);
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`${flag} must be a positive integer, got '${raw}'`);
  return n;
}

function specFromFlags(v: Record<string, string | boolean | undefined>): pb.TransferSpec {
  if (!v.data) throw new UsageError('transfer start needs --data (or a spec file)');
  if (v.genotype && v.search) throw new UsageError('give --genotype or --search, not both');
  const layout = LAYOUT_FLAGS[String(v.layout)];
  if (layout === undefined) throw new UsageError(`--layout must be one of ${Object.keys(LAYOUT_FLAGS).join(', ')}, got '${String(v.layout)}'`);
  let source: pb.TransferSpec['source'];
  let genotype: Genotype | undefined;
  if (v.search) source = { $case: 'searchId', value: String(v.search) };
  else {
    genotype = resolveGenotype(String(v.genotype ?? 'nasnet-a'));
    source = { $case: 'genotype', value: genotypeToProto(genotype, { hash: genotypeHash(genotype), text: formatGenotype(genotype) }) };
  }
  let size: pb.TransferSpec['size'];
  const cells = positive('--cells', v.cells as string | undefined);
  let filters = positive('--initial-filters', v['initial-filters'] as string | undefined);
  const penultimate = positive('--filters', v.filters as string | undefined);
  if (penultimate !== undefined) {
    if (filters !== undefined) throw new UsageError('give --filters or --initial-filters, not both');
    if (!genotype) throw new UsageError('with --search, give --initial-filters (the genotype, and so F0 = F / (4 x concat width), is known only to the server)');
    // The wire's NetworkSize.filters is F0, the first stack's filters.
    filters = initialFiltersFor(genotype, penultimate);
  }
  const bp = positive('--budget-params', v['budget-params'] as string | undefined), bm = positive('--budget-mult-adds', v['budget-mult-adds'] as string | undefined);
  if ([cells !== undefined || filters !== undefined || penultimate !== undefined, bp !== undefined, bm !== undefined].filter(Boolean).length > 1) throw new UsageError('give one of --cells/--filters, --budget-params, --budget-mult-adds');
  if (bp !== undefined) size = { $case: 'budgetParams', value: bp };
  else if (bm !== undefined) size = { $case: 'budgetMultAdds', value: bm };
  else if (cells !== undefined || filters !== undefined) {
    if (cells === undefined || filters === undefined) throw new UsageError('--cells and --filters (or --initial-filters) go together');
    size = { $case: 'fixed', value: { cells, filters } };
  }
  return pb.TransferSpec.fromPartial({
    name: 'nasctl', source, layout, size, dataset: String(v.data), exportPath: (v.export as string | undefined) ?? '',
    seed: v.seed ? Number(v.seed) : 0,
    stemMultiplier: positiveInteger('--stem-multiplier', v['stem-multiplier'] as string | undefined),
    recipe: {
      ...(v['no-aux-head'] ? { auxHead: false } : {}),
      epochs: positive('--epochs', v.epochs as string | undefined), batchSize: positive('--batch', v.batch as string | undefined),
      learningRate: positive('--lr', v.lr as string | undefined), maxSteps: positive('--max-steps', v['max-steps'] as string | undefined),
    },
  });
}

async function watch(client: pb.TransferServiceClient, transferId: string, io: CliIO): Promise<number> {
  const st = await unary<pb.GetTransferResponse>(client, client.getTransfer, { transferId });
  const bar = new ProgressBar(process.stderr, st.status?.spec?.recipe?.epochs ?? 1);
  let final = 'unknown';
  let result: pb.TransferResult | undefined;
  await new Promise<void>((resolve, reject) => {
    const stream = client.watchTransfer(pb.WatchTransferRequest.fromPartial({ transferId }));
    stream.on('data', (e: pb.TransferEvent) => {
      const ev = e.event;
      if (!ev) return;
      if (ev.$case === 'progress') bar.update(ev.value.epoch - (ev.value.step ? 0 : 1), `epoch ${ev.value.epoch}/${ev.value.totalEpochs} loss ${ev.value.loss.toFixed(4)} acc ${ev.value.trainAccuracy.toFixed(4)} ${ev.value.imagesPerSec.toFixed(0)} img/s`);
      else if (ev.$case === 'stateChanged') { final = STATES[ev.value.current] ?? 'unknown'; if (ev.value.message) bar.log(ev.value.message); }
      else if (ev.$case === 'finished') result = ev.value;
      else if (ev.$case === 'log') bar.log(ev.value.message);
    });
    stream.on('end', resolve);
    stream.on('error', (err: import('@grpc/grpc-js').ServiceError) => reject(new RemoteError(err)));
  });
  bar.finish();
  io.out(`transfer ${transferId} ${final}${result ? `: ${accuracyText(result)}${result.exportUri ? `, model in ${result.exportUri}` : ', not exported'}` : ''}`);
  return final === 'succeeded' ? 0 : 1;
}
