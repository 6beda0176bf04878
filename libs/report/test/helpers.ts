import assert from 'node:assert/strict';
import { Rng } from '@nasnet/random';
import { OPERATIONS } from '@nasnet/search-space';
import type { Block, Cell, Combine } from '@nasnet/search-space';
import { elements, numbersIn, parseXml } from './xml.js';
import type { XmlElement } from './xml.js';

/**
 * Parses `svg` strictly and checks what every drawing of this lib must be:
 * one root <svg> in the SVG namespace with positive width/height and a
 * matching viewBox, only finite numbers, unique ids, and resolvable
 * url(#id) references. Returns the root.
 */
export function checkSvg(svg: string): XmlElement {
  const root = parseXml(svg);
  assert.equal(root.name, 'svg');
  assert.equal(root.attrs['xmlns'], 'http://www.w3.org/2000/svg');
  const width = Number(root.attrs['width']);
  const height = Number(root.attrs['height']);
  assert.ok(width > 0 && Number.isFinite(width), `width ${root.attrs['width']}`);
  assert.ok(height > 0 && Number.isFinite(height), `height ${root.attrs['height']}`);
  assert.equal(root.attrs['viewBox'], `0 0 ${width} ${height}`);
  for (const n of numbersIn(root)) assert.ok(Number.isFinite(n.value), `non-finite number '${n.raw}' in ${n.where}`);
  const ids = elements(root).flatMap((e) => (e.attrs['id'] === undefined ? [] : [e.attrs['id']]));
  assert.equal(new Set(ids).size, ids.length, `duplicate ids: ${ids.join(', ')}`);
  for (const e of elements(root)) {
    for (const value of Object.values(e.attrs)) {
      for (const m of value.matchAll(/url\(#([^)]+)\)/g)) assert.ok(ids.includes(m[1]!), `url(#${m[1]}) has no target`);
    }
  }
  return root;
}

/** The numbers of a path's `d`, in order. */
export function pathNumbers(d: string): number[] {
  return (d.match(/-?\d+(?:\.\d+)?/g) ?? []).map(Number);
}

/**
 * A random but valid cell: block k reads two states below 2 + k, combines
 * are concat with probability `concatRate`, and the output concatenates the
 * block outputs nobody reads (the paper's rule), or the last block.
 */
export function randomCell(rng: Rng, numBlocks: number, concatRate = 0.3): Cell {
  const blocks: Block[] = [];
  for (let k = 0; k < numBlocks; k++) {
    const combine: Combine = rng.next() < concatRate ? 'concat' : 'add';
    blocks.push({
      inputs: [rng.int(2 + k), rng.int(2 + k)],
      ops: [OPERATIONS[rng.int(OPERATIONS.length)]!, OPERATIONS[rng.int(OPERATIONS.length)]!],
      combine,
    });
  }
  const used = new Set(blocks.flatMap((b) => b.inputs));
  const concat: number[] = [];
  for (let s = 2; s < 2 + numBlocks; s++) if (!used.has(s)) concat.push(s);
  if (concat.length === 0) concat.push(1 + numBlocks);
  return { blocks, concat };
}

/** A seeded stream of random cells of 1..8 blocks. */
export function randomCells(seed: number, count: number): Cell[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => randomCell(rng, 1 + rng.int(8)));
}
