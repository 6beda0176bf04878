/**
 * Canonical form and content hash of cells and genotypes, so that a search
 * can tell whether it has already trained an architecture.
 *
 * Two cells are treated as the same architecture (isomorphic) when one turns
 * into the other by any mix of:
 *  - swapping the two branches of a block. For add this is exact. For
 *    channel concat it permutes the block's output channels by a fixed
 *    permutation. The cell output feeds the next cells through ReLU-1x1
 *    conv-BN (paper section 3 / reference `_cell_base`), and conv and
 *    separable ops end in a pointwise conv, so such a permutation is absorbed
 *    by learned weights. It is only an approximation where a concat result
 *    reaches an add through weight-free ops alone (identity, pooling) and
 *    meets a tensor whose channels it cannot absorb. The search treats
 *    concat as commutative on purpose (one hash per architecture family);
 *  - listing independent blocks in another order (renumbering the hidden
 *    states accordingly; blocks must still only read earlier states);
 *  - listing the cell's concat entries in another order (again a fixed
 *    channel permutation of the cell output, absorbed by the next cell's
 *    1x1 conv).
 * Nothing else is identified: op choices, the wiring, the combine kind and
 * which cell is normal vs reduction all change the hash.
 *
 * Canonical numbering: every state gets an isomorphism-invariant key (its
 * depth, then a digest of its expression tree `combine{op(child), op(child)}`
 * with the two branches sorted). Blocks are then placed in topological order
 * (Kahn's algorithm), always taking a ready block with the smallest key and,
 * among those, the smallest (input, op, input, op, combine) tuple under the
 * numbering so far, branches sorted by (new state index, operation index).
 * Blocks still tied are twins (same children, ops and combine, own weights);
 * each choice is tried, unless swapping them is a symmetry of the cell, and
 * the placement with the smallest sequence of tuples, then the smallest
 * sorted concat list, wins. The result depends only on the cell's structure,
 * never on how it was listed.
 */
import { createHash } from 'node:crypto';
import type { Block, Cell, Genotype } from './genotype.js';
import { NUM_CELL_INPUTS } from './genotype.js';
import { MAX_NUM_BLOCKS, copyCell, inferNumBlocks } from './internal.js';
import { OPERATIONS } from './operations.js';
import { formatCellUnchecked, formatGenotypeUnchecked } from './text.js';
import type { CellTextOptions } from './text.js';
import { validateCellAt, validateGenotype } from './validate.js';
import type { ValidateOptions } from './validate.js';

/** Version tag mixed into every hash; bump it if the serialisation changes. */
const GENOTYPE_HASH_TAG = 'nasnet-genotype/v1';
const CELL_HASH_TAG = 'nasnet-cell/v1';

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function opIndex(op: string): number {
  return (OPERATIONS as readonly string[]).indexOf(op);
}

/** Isomorphism-invariant keys of all states, comparable as strings. */
function stateKeys(blocks: readonly Block[]): string[] {
  const depth: number[] = [0, 0];
  const digest: string[] = ['h0', 'h1'];
  blocks.forEach((block, k) => {
    const branches = [0, 1].map((j) => `${opIndex(block.ops[j]!)}:${digest[block.inputs[j]!]}`).sort();
    digest[NUM_CELL_INPUTS + k] = sha256Hex(`${block.combine}{${branches.join(',')}}`);
    depth[NUM_CELL_INPUTS + k] = 1 + Math.max(depth[block.inputs[0]]!, depth[block.inputs[1]]!);
  });
  // Depth first (zero-padded so string order is numeric order) keeps shallow
  // blocks in front, which reads naturally; the digest separates the rest.
  return digest.map((d, s) => `${String(depth[s]).padStart(3, '0')}/${d}`);
}

/** One block under a (partial) renumbering: [in, op, in, op, combine], branches sorted. */
function blockTuple(block: Block, newIndex: readonly number[]): number[] {
  const a = [newIndex[block.inputs[0]]!, opIndex(block.ops[0])];
  const b = [newIndex[block.inputs[1]]!, opIndex(block.ops[1])];
  const [lo, hi] = a[0]! < b[0]! || (a[0] === b[0] && a[1]! <= b[1]!) ? [a, b] : [b, a];
  return [lo[0]!, lo[1]!, hi[0]!, hi[1]!, block.combine === 'add' ? 0 : 1];
}

function compareTuples(x: readonly number[], y: readonly number[]): number {
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - y[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Whether some involution of the unplaced blocks that swaps twins a and b
 * maps the cell onto itself (every block's definition and the concat set).
 * It is built greedily from the swap: each block whose definition the
 * mapping so far changes is paired with an unplaced block of exactly that
 * mapped definition, then the whole mapping is verified. When one exists,
 * the placements starting with b mirror those starting with a and give the
 * same result, so only a needs exploring (orbit pruning). A failed greedy
 * construction only costs time, never correctness.
 */
function swapIsAutomorphism(cell: Cell, a: number, b: number, placed: readonly boolean[]): boolean {
  const n = cell.blocks.length;
  const partner: number[] = Array.from({ length: n }, (_, k) => k);
  partner[a] = b;
  partner[b] = a;
  const mapState = (s: number): number => (s < NUM_CELL_INPUTS ? s : NUM_CELL_INPUTS + partner[s - NUM_CELL_INPUTS]!);
  const mappedTuple = (k: number): number[] => {
    const block = cell.blocks[k]!;
    return blockTuple({ ...block, inputs: [mapState(block.inputs[0]), mapState(block.inputs[1])] }, IDENTITY_INDEX);
  };
  const own = cell.blocks.map((block) => blockTuple(block, IDENTITY_INDEX));
  // Blocks only read earlier blocks, so by the time block k is looked at the
  // mapping of everything it reads is settled.
  for (let k = 0; k < n; k++) {
    if (partner[k] !== k) continue;
    const want = mappedTuple(k);
    if (compareTuples(want, own[k]!) === 0) continue;
    let found = -1;
    for (let y = k + 1; y < n && found < 0; y++) {
      if (partner[y] === y && !placed[y] && compareTuples(own[y]!, want) === 0) found = y;
    }
    if (found < 0 || placed[k]) return false;
    partner[k] = found;
    partner[found] = k;
  }
  for (let k = 0; k < n; k++) {
    if (compareTuples(mappedTuple(k), own[partner[k]!]!) !== 0) return false;
  }
  const concat = new Set(cell.concat);
  return cell.concat.every((s) => concat.has(mapState(s)));
}

/** newIndex for "no renumbering" (large enough for MAX_NUM_BLOCKS). */
const IDENTITY_INDEX: readonly number[] = Array.from({ length: NUM_CELL_INPUTS + MAX_NUM_BLOCKS }, (_, i) => i);

/** Canonical form of a cell that is known to be valid. */
export function canonicalCellUnchecked(cell: Cell): Cell {
  const blocks = cell.blocks;
  const n = blocks.length;
  const keys = stateKeys(blocks);

  // Depth-first search over the canonical placements. `tuples` holds the
  // blocks placed so far under the new numbering; the best complete
  // placement (lexicographically smallest tuples, then concat) wins.
  const newIndex: number[] = [0, 1];
  const placed: boolean[] = new Array<boolean>(n).fill(false);
  const order: number[] = [];
  const tuples: number[][] = [];
  let best: { order: number[]; tuples: number[][]; concat: number[] } | undefined;

  /** Sign of (placed tuples + next) versus the same prefix of `best`. */
  const compareToBest = (next: readonly number[]): number => {
    for (let i = 0; i < tuples.length; i++) {
      const d = compareTuples(tuples[i]!, best!.tuples[i]!);
      if (d !== 0) return d;
    }
    return compareTuples(next, best!.tuples[tuples.length]!);
  };

  const search = (): void => {
    const pos = order.length;
    if (pos === n) {
      const concat = cell.concat.map((s) => newIndex[s]!).sort((x, y) => x - y);
      let better = best === undefined;
      if (!better) {
        let d = 0;
        for (let i = 0; i < n && d === 0; i++) d = compareTuples(tuples[i]!, best!.tuples[i]!);
        better = d < 0 || (d === 0 && compareTuples(concat, best!.concat) < 0);
      }
      if (better) {
        best = { order: [...order], tuples: tuples.map((t) => [...t]), concat };
      }
      return;
    }
    // Ready blocks (all inputs placed) with the smallest invariant key...
    let minKey: string | undefined;
    let group: number[] = [];
    for (let k = 0; k < n; k++) {
      if (placed[k]) continue;
      const [i0, i1] = blocks[k]!.inputs;
      if ((i0 >= NUM_CELL_INPUTS && !placed[i0 - NUM_CELL_INPUTS]) || (i1 >= NUM_CELL_INPUTS && !placed[i1 - NUM_CELL_INPUTS])) {
        continue;
      }
      const key = keys[NUM_CELL_INPUTS + k]!;
      if (minKey === undefined || key < minKey) {
        minKey = key;
        group = [k];
      } else if (key === minKey) {
        group.push(k);
      }
    }
    // ...then with the smallest tuple at this position. What is left are
    // twins: same children, ops and combine.
    let minTuple: number[] | undefined;
    let twins: number[] = [];
    for (const k of group) {
      const t = blockTuple(blocks[k]!, newIndex);
      const d = minTuple === undefined ? -1 : compareTuples(t, minTuple);
      if (d < 0) {
        minTuple = t;
        twins = [k];
      } else if (d === 0) {
        twins.push(k);
      }
    }
    // Branch and bound against the best complete placement found so far.
    if (best !== undefined && compareToBest(minTuple!) > 0) return;
    const explored: number[] = [];
    for (const k of twins) {
      if (explored.some((e) => swapIsAutomorphism(cell, e, k, placed))) continue;
      explored.push(k);
      placed[k] = true;
      order.push(k);
      tuples.push(minTuple!);
      newIndex[NUM_CELL_INPUTS + k] = NUM_CELL_INPUTS + pos;
      search();
      delete newIndex[NUM_CELL_INPUTS + k];
      tuples.pop();
      order.pop();
      placed[k] = false;
    }
  };
  search();

  const result = best!;
  return copyCell({
    blocks: result.tuples.map(
      (t): Block => ({
        inputs: [t[0]!, t[2]!],
        ops: [OPERATIONS[t[1]!]!, OPERATIONS[t[3]!]!],
        combine: t[4] === 0 ? 'add' : 'concat',
      }),
    ),
    concat: result.concat,
  });
}

/**
 * The cell in canonical numbering (see the module doc): isomorphic cells
 * give deep-equal results. Validated first (`numBlocks` defaults to the
 * cell's own block count); returns a fresh frozen cell.
 */
export function canonicalCell(cell: Cell, opts: CellTextOptions = {}): Cell {
  validateCellAt(cell, opts.cellType ?? 'cell', inferNumBlocks(cell, opts.numBlocks, true));
  return canonicalCellUnchecked(cell);
}

/**
 * Both cells in canonical numbering; equivalent to `g`, idempotent.
 * `numBlocks` defaults to the normal cell's block count.
 */
export function canonicalGenotype(g: Genotype, opts: ValidateOptions = {}): Genotype {
  validateGenotype(g, { numBlocks: inferNumBlocks(g, opts.numBlocks, false) });
  return Object.freeze({ normal: canonicalCellUnchecked(g.normal), reduction: canonicalCellUnchecked(g.reduction) });
}

/**
 * sha256 (hex) of the canonical text form of the genotype, prefixed with a
 * version tag. Isomorphic genotypes share a hash; the normal and reduction
 * cells keep their roles.
 */
export function genotypeHash(g: Genotype, opts: ValidateOptions = {}): string {
  return sha256Hex(`${GENOTYPE_HASH_TAG}\n${formatGenotypeUnchecked(canonicalGenotype(g, opts))}`);
}

/** sha256 (hex) of the canonical text form of one cell. */
export function cellHash(cell: Cell, opts: CellTextOptions = {}): string {
  return sha256Hex(`${CELL_HASH_TAG}\n${formatCellUnchecked(canonicalCell(cell, opts))}`);
}
