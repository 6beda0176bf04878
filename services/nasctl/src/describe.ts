import { parseArgs } from 'node:util';
import { formatGenotype, genotypeHash } from '@nasnet/search-space';
import { NETWORK_LAYOUTS, defaultNetworkOptions, planNetwork, planTotals, type NetworkLayout, type NetworkPlan } from '@nasnet/network';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';
import { resolveGenotype } from './genotype-arg.js';
import { formatCount } from './format.js';

const HELP = `usage: nasctl describe [options]

Prints a genotype (text form and canonical hash) and, for a layout and N@F,
the network's parameter count and multiply-adds. N@F is the paper's name:
N normal cells per stack, F the filters of the penultimate layer
(NASNet-A: 6@768 on CIFAR-10, 4@1056 mobile, 6@4032 Large).

  --genotype NAME|TEXT|@FILE   genotype (default nasnet-a)
  --layout L                   cifar | imagenet (mobile) | imagenet-large (NASNet-A Large:
                               stem multiplier 3, skip_reduction_layer_input) (default cifar)
  --cells N                    normal cells per stack (default 6 cifar, 4 imagenet, 6 imagenet-large)
  --filters F                  penultimate filter count, the paper's F in N@F (default 768, 1056, 4032)
  --stem-multiplier M          stem filters = M x F0 (cifar) or M x 32 (imagenet) (default 3, 1, 3)
  --image-size S               input height and width (default 32, 224, 331)
  --classes K                  output classes (default 10 cifar, 1000 imagenet layouts)
  --channels C                 input channels (default 3; MNIST: 1)
  --aux                        include the auxiliary head in the counts
  --layers                     print every layer
  --json                       end with one JSON line {paramCount, multAdds, ...}`;

export async function describeCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      genotype: { type: 'string', default: 'nasnet-a' },
      layout: { type: 'string', default: 'cifar' },
      cells: { type: 'string' },
      filters: { type: 'string' },
      'stem-multiplier': { type: 'string' },
      'image-size': { type: 'string' },
      classes: { type: 'string' },
      channels: { type: 'string' },
      aux: { type: 'boolean', default: false },
      layers: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const layout = values.layout as NetworkLayout;
  if (!NETWORK_LAYOUTS.includes(layout)) throw new UsageError(`--layout must be one of ${NETWORK_LAYOUTS.join(', ')}, got '${values.layout}'`);
  const d = defaultNetworkOptions(layout);
  const cells = intOption('--cells', values.cells, d.cells);
  const filters = intOption('--filters', values.filters, d.filters);
  const stemMultiplier = intOption('--stem-multiplier', values['stem-multiplier'], d.stemMultiplier);
  const imageSize = intOption('--image-size', values['image-size'], d.imageSize);
  const numClasses = intOption('--classes', values.classes, d.numClasses);
  const channels = intOption('--channels', values.channels, d.channels);

  const genotype = resolveGenotype(values.genotype!);
  const hash = genotypeHash(genotype);
  const plan: NetworkPlan = planNetwork(genotype, {
    layout,
    cells,
    filters,
    stemMultiplier,
    imageSize,
    channels,
    numClasses,
    auxHead: values.aux,
  });
  const { paramCount, multAdds } = planTotals(plan, { includeAux: values.aux });
  const o = plan.options;

  io.out(`genotype  ${formatGenotype(genotype)}`);
  io.out(`hash      ${hash}`);
  io.out(`network   ${layout} ${o.cells}@${o.filters} (F0 ${o.initialFilters}, stem x${o.stemMultiplier}), ${imageSize}x${imageSize}x${channels}, ${numClasses} classes${values.aux ? ', with auxiliary head' : ''}`);
  io.out(`params    ${formatCount(paramCount)} (${paramCount})`);
  io.out(`mult-adds ${formatCount(multAdds)} (${multAdds})`);
  if (values.layers) printLayers(plan, values, io);
  if (values.json) {
    io.out(JSON.stringify({
      genotype: formatGenotype(genotype), hash, layout, cells: o.cells, filters: o.filters, penultimateFilters: o.filters,
      initialFilters: o.initialFilters, stemMultiplier: o.stemMultiplier, skipReductionLayerInput: o.skipReductionLayerInput,
      imageSize, channels, numClasses, auxHead: values.aux, paramCount, multAdds,
    }));
  }
  return 0;
}

function printLayers(plan: NetworkPlan, values: { aux?: boolean }, io: CliIO): void {
  io.out('');
  io.out(`${'layer'.padEnd(52)} ${'output'.padEnd(16)} ${'params'.padStart(10)} ${'mult-adds'.padStart(14)}`);
  for (const layer of plan.layers) {
    if (layer.aux && !values.aux) continue;
    io.out(`${layer.name.slice(0, 52).padEnd(52)} ${layer.outputShape.join('x').padEnd(16)} ${String(layer.paramCount).padStart(10)} ${String(layer.multAdds).padStart(14)}`);
  }
}

function intOption(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got '${raw}'`);
  return n;
}
