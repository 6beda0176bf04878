/**
 * Shared test setup: the pure-JS `cpu` backend, the numerical reference
 * (DESIGN.md section 3), and small helpers.
 */
import * as tfc from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Block, Cell, Genotype, Operation } from '@nasnet/search-space';

// Silences the "install tfjs-node" banner the cpu backend prints in Node
// (in tfjs 4.22 the PROD flag only mutes warnings; IS_TEST would also turn
// on kernel leak checks that trip inside tfjs's own softmaxCrossEntropy).
tfc.env().set('PROD', true);
await tfc.setBackend('cpu');

/**
 * A cell whose every op is `op`, wired to exercise every kind of input: both
 * cell inputs, an earlier block, and a 'concat' block (2F channels) read by a
 * later op; the output concatenates both cell inputs too (so a reduction cell
 * must reduce them).
 */
export function uniformCell(op: Operation): Cell {
  const block = (inputs: [number, number], combine: Block['combine']): Block => ({ inputs, ops: [op, op], combine });
  return {
    blocks: [block([0, 1], 'add'), block([0, 2], 'concat'), block([3, 1], 'add')],
    concat: [0, 1, 3, 4],
  };
}

export function uniformGenotype(op: Operation): Genotype {
  return { normal: uniformCell(op), reduction: uniformCell(op) };
}

export async function values(t: tfc.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

export { tfc };
