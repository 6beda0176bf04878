import { parseArgs } from 'node:util';
import { formatGenotype, genotypeHash } from '@nasnet/search-space';
import { planNetwork, planTotals, type NetworkPlan } from '@nasnet/network';
import type { CliIO } from './main.js';
import { UsageError } from './errors.js';
import { resolveGenotype } from './genotype-arg.js';
import { formatCount } from './format.js';

const HELP = `usage: nasctl describe [options]

Prints a genotype (text form and canonical hash) and, for a layout and N@F,
the network's parameter count and multiply-adds.

  --genotype NAME|TEXT|@FILE   genotype (default nasnet-a)
  --layout cifar|imagenet      network layout (default cifar)
  --cells N                    normal cells per stack (default 6 cifar, 4 imagenet)
  --filters F                  penultimate filter count, the paper's F in N@F (default 768 cifar, 1056 imagenet)
  --image-size S               input height and width (default 32 cifar, 224 imagenet)
  --classes K                  output classes (default 10 cifar, 1000 imagenet)
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
      'image-size': { type: 'string' },
      classes: { type: 'string' },
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
  const layout = values.layout;
  if (layout !== 'cifar' && layout !== 'imagenet') throw new UsageError(`--layout must be cifar or imagenet, got '${layout}'`);
  const imagenet = layout === 'imagenet';
  const cells = intOption('--cells', values.cells, imagenet ? 4 : 6);
  const filters = intOption('--filters', values.filters, imagenet ? 1056 : 768);
  const imageSize = intOption('--image-size', values['image-size'], imagenet ? 224 : 32);
  const numClasses = intOption('--classes', values.classes, imagenet ? 1000 : 10);

  const genotype = resolveGenotype(values.genotype!);
  const hash = genotypeHash(genotype);
  const plan: NetworkPlan = planNetwork(genotype, {
    layout,
    cells,
    filters,
    imageSize,
    channels: 3,
    numClasses,
    auxHead: values.aux,
  });
  const { paramCount, multAdds } = planTotals(plan, { includeAux: values.aux });

  io.out(`genotype  ${formatGenotype(genotype)}`);
  io.out(`hash      ${hash}`);
  io.out(`network   ${layout} ${cells}@${filters}, ${imageSize}x${imageSize}x3, ${numClasses} classes${values.aux ? ', with auxiliary head' : ''}`);
  io.out(`params    ${formatCount(paramCount)} (${paramCount})`);
  io.out(`mult-adds ${formatCount(multAdds)} (${multAdds})`);
  if (values.layers) printLayers(plan, values, io);
  if (values.json) {
    io.out(JSON.stringify({ genotype: formatGenotype(genotype), hash, layout, cells, filters, imageSize, numClasses, auxHead: values.aux, paramCount, multAdds }));
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
