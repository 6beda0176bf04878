/** Test helpers: mutable copies, an independent isomorphism check, random relabelings. */
import type { Rng } from '@nasnet/random';
import type { Block, Cell, Genotype } from '../src/index.js';
import { NUM_CELL_INPUTS } from '../src/index.js';

/** A plain, mutable deep copy (for tests that break genotypes on purpose). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function mutableCopy(g: Genotype): any {
  return JSON.parse(JSON.stringify(g));
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const rest of permutations(n - 1)) {
    for (let i = 0; i <= rest.length; i++) out.push([...rest.slice(0, i), n - 1, ...rest.slice(i)]);
  }
  return out;
}

function branchKey(input: number, op: string): string {
  return `${input}:${op}`;
}

function blockKey(block: Block, map: (s: number) => number): string {
  const a = branchKey(map(block.inputs[0]), block.ops[0]);
  const b = branchKey(map(block.inputs[1]), block.ops[1]);
  return `${block.combine}|${[a, b].sort().join('|')}`;
}

/**
 * Brute force, independent of the lib: is there a bijection of blocks that
 * maps cell x onto cell y (branches as unordered pairs, concat as a set)?
 */
export function cellsIsomorphic(x: Cell, y: Cell): boolean {
  const n = x.blocks.length;
  if (n !== y.blocks.length || x.concat.length !== y.concat.length) return false;
  for (const perm of permutations(n)) {
    // block k of x corresponds to block perm[k] of y
    const map = (s: number): number => (s < NUM_CELL_INPUTS ? s : NUM_CELL_INPUTS + perm[s - NUM_CELL_INPUTS]!);
    let ok = true;
    for (let k = 0; k < n && ok; k++) {
      ok = blockKey(x.blocks[k]!, map) === blockKey(y.blocks[perm[k]!]!, (s) => s);
    }
    if (!ok) continue;
    const cx = new Set(x.concat.map(map));
    if (y.concat.every((s) => cx.has(s))) return true;
  }
  return false;
}

export function genotypesIsomorphic(x: Genotype, y: Genotype): boolean {
  return cellsIsomorphic(x.normal, y.normal) && cellsIsomorphic(x.reduction, y.reduction);
}

/**
 * An isomorphic copy of `cell`: blocks in a random topological order,
 * branches randomly swapped, concat shuffled.
 */
export function relabelCell(rng: Rng, cell: Cell): Cell {
  const n = cell.blocks.length;
  const placed = new Array<boolean>(n).fill(false);
  const order: number[] = [];
  while (order.length < n) {
    const ready: number[] = [];
    for (let k = 0; k < n; k++) {
      if (placed[k]) continue;
      if (cell.blocks[k]!.inputs.every((s) => s < NUM_CELL_INPUTS || placed[s - NUM_CELL_INPUTS])) ready.push(k);
    }
    const k = rng.pick(ready);
    placed[k] = true;
    order.push(k);
  }
  const newIndex = new Map<number, number>([[0, 0], [1, 1]]);
  order.forEach((k, i) => newIndex.set(NUM_CELL_INPUTS + k, NUM_CELL_INPUTS + i));
  const blocks = order.map((k): Block => {
    const b = cell.blocks[k]!;
    const swap = rng.int(2) === 1;
    const i0 = newIndex.get(b.inputs[0])!;
    const i1 = newIndex.get(b.inputs[1])!;
    return swap
      ? { inputs: [i1, i0], ops: [b.ops[1], b.ops[0]], combine: b.combine }
      : { inputs: [i0, i1], ops: [b.ops[0], b.ops[1]], combine: b.combine };
  });
  return { blocks, concat: rng.shuffle(cell.concat.map((s) => newIndex.get(s)!)) };
}

export function relabelGenotype(rng: Rng, g: Genotype): Genotype {
  return { normal: relabelCell(rng, g.normal), reduction: relabelCell(rng, g.reduction) };
}
