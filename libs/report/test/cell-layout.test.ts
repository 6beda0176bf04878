import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NASNET_A } from '@nasnet/search-space';
import type { Cell, CellType } from '@nasnet/search-space';
import { UndrawableCellError, layoutCell } from '../src/index.js';
import type { Box, CellLayout, EdgeLayout, Point } from '../src/index.js';
import { randomCells } from './helpers.js';

const EPS = 1e-6;

function cases(): Array<[string, Cell, CellType]> {
  return [
    ['NASNet-A normal', NASNET_A.normal, 'normal'],
    ['NASNet-A reduction', NASNET_A.reduction, 'reduction'],
    ...randomCells(2017, 40).map((c, i): [string, Cell, CellType] => [`random #${i}`, c, i % 2 === 0 ? 'normal' : 'reduction']),
  ];
}

function nodeBoxes(l: CellLayout): Array<[string, Box]> {
  return [
    ...l.inputs.map((b): [string, Box] => [`input ${b.name}`, b]),
    ...l.ops.map((b): [string, Box] => [`op b${b.block}.${b.branch}`, b]),
    ...l.combines.map((b): [string, Box] => [`combine b${b.block}`, b]),
    ['output', l.output],
  ];
}

/** Box of a block name: text of 11 px at about 0.6 em a character. */
function nameBox(l: CellLayout, block: number): Box {
  const c = l.combines.find((x) => x.block === block)!;
  const w = `b${block}`.length * 11 * 0.6;
  return { x: c.nameAt.x, y: c.nameAt.y - 6, width: w, height: 12 };
}

function overlaps(a: Box, b: Box, gap: number): boolean {
  return a.x < b.x + b.width + gap && b.x < a.x + a.width + gap && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

function strictlyInside(p: Point, b: Box, margin: number): boolean {
  return p.x > b.x + margin && p.x < b.x + b.width - margin && p.y > b.y + margin && p.y < b.y + b.height - margin;
}

function samples(e: EdgeLayout, perSegment = 20): Point[] {
  const out: Point[] = [e.start];
  let from = e.start;
  for (const s of e.segments) {
    for (let i = 1; i <= perSegment; i++) {
      const t = i / perSegment;
      const u = 1 - t;
      out.push(
        s.type === 'line'
          ? { x: from.x + (s.to.x - from.x) * t, y: from.y + (s.to.y - from.y) * t }
          : {
              x: u * u * u * from.x + 3 * u * u * t * s.c1.x + 3 * u * t * t * s.c2.x + t * t * t * s.to.x,
              y: u * u * u * from.y + 3 * u * u * t * s.c1.y + 3 * u * t * t * s.c2.y + t * t * t * s.to.y,
            },
      );
    }
    from = s.to;
  }
  return out;
}

function endOf(e: EdgeLayout): Point {
  return e.segments[e.segments.length - 1]!.to;
}

test('layoutCell - levels are block depths and long edges get lanes', () => {
  const normal = layoutCell(NASNET_A.normal);
  assert.deepEqual(normal.levels, [0, 0, 1, 1, 1, 1, 1]);
  // Only h[i-1] -> output skips a level in the normal cell.
  assert.equal(normal.lanes, 1);
  const reduction = layoutCell(NASNET_A.reduction, 'reduction');
  // b3 = id(b1) + avg3x3(b0) and b4 = sep3x3(b0) + max3x3(h[i]) sit one level up.
  assert.deepEqual(reduction.levels, [0, 0, 1, 1, 1, 2, 2]);
  // h[i] -> b4 crosses level 1; b1 and b2 -> output cross level 2.
  assert.equal(reduction.lanes, 3);
  // Levels stack bottom-up: level-2 combines are above level-1 combines.
  const y = (k: number) => reduction.combines[k]!.y;
  assert.ok(y(3) < y(0) && y(4) < y(0));
  assert.ok(reduction.output.y + reduction.output.height < Math.min(y(3), y(4)));
  assert.ok(reduction.inputs.every((i) => i.y > reduction.ops.reduce((m, o) => Math.max(m, o.y + o.height), 0)));
});

test('layoutCell - every state, op, combine and the output get exactly one node', () => {
  for (const [name, cell, type] of cases()) {
    const l = layoutCell(cell, type);
    assert.deepEqual(l.inputs.map((i) => i.state), [0, 1], name);
    assert.equal(l.ops.length, 2 * cell.blocks.length, name);
    assert.equal(l.combines.length, cell.blocks.length, name);
    assert.deepEqual(l.combines.map((c) => c.combine), cell.blocks.map((b) => b.combine), name);
    assert.deepEqual(l.output.states, [...new Set(cell.concat)], name);
    // One edge per branch input, per op -> combine, per concat state, plus the output arrow.
    assert.equal(l.edges.length, 4 * cell.blocks.length + new Set(cell.concat).size + 1, name);
  }
});

test('layoutCell - nodes and block names do not overlap and stay inside the drawing', () => {
  for (const [name, cell, type] of cases()) {
    const l = layoutCell(cell, type);
    const boxes = [...nodeBoxes(l), ...l.combines.map((c): [string, Box] => [`name b${c.block}`, nameBox(l, c.block)])];
    for (let i = 0; i < boxes.length; i++) {
      const [an, a] = boxes[i]!;
      assert.ok(a.x >= 0 && a.y >= 0 && a.x + a.width <= l.width + EPS && a.y + a.height <= l.height + EPS, `${name}: ${an} outside`);
      for (let j = i + 1; j < boxes.length; j++) {
        const [bn, b] = boxes[j]!;
        // A combine's name sits right next to it by design.
        const gap = an.startsWith('name') || bn.startsWith('name') ? 0 : 4;
        assert.ok(!overlaps(a, b, gap), `${name}: ${an} overlaps ${bn}`);
      }
    }
  }
});

test('layoutCell - every arrow starts on its source and ends on its target', () => {
  for (const [name, cell, type] of cases()) {
    const l = layoutCell(cell, type);
    const op = (block: number, branch: number) => l.ops.find((o) => o.block === block && o.branch === branch)!;
    const within = (x: number, b: Box) => x >= b.x - EPS && x <= b.x + b.width + EPS;
    for (const e of l.edges) {
      const end = endOf(e);
      const t = e.target;
      const what = `${name}: edge of state ${e.state} to ${JSON.stringify(t)}`;
      if (t.kind === 'op') {
        const box = op(t.block, t.branch);
        assert.ok(Math.abs(end.y - (box.y + box.height)) < EPS && Math.abs(end.x - (box.x + box.width / 2)) < EPS, `${what} ends off the box bottom`);
        assert.equal(e.state, cell.blocks[t.block]!.inputs[t.branch], what);
      } else if (t.kind === 'combine') {
        const c = l.combines[t.block]!;
        assert.ok(Math.abs(end.y - (c.y + c.height)) < EPS && within(end.x, c), `${what} ends off the combine`);
        const from = op(t.block, t.branch);
        assert.deepEqual(e.start, { x: from.x + from.width / 2, y: from.y }, what);
        continue;
      } else if (t.kind === 'output') {
        assert.ok(Math.abs(end.y - (l.output.y + l.output.height)) < EPS && within(end.x, l.output), `${what} ends off the output`);
      } else {
        assert.ok(Math.abs(e.start.y - l.output.y) < EPS && end.y < l.output.y, what);
        continue;
      }
      // Starts on the top edge of the state's node.
      if (e.state < 2) {
        const input = l.inputs[e.state]!;
        assert.ok(Math.abs(e.start.y - input.y) < EPS && within(e.start.x, input), `${what} starts off ${input.name}`);
      } else {
        const c = l.combines[e.state - 2]!;
        assert.deepEqual(e.start, { x: c.x + c.width / 2, y: c.y }, what);
      }
    }
  }
});

test('layoutCell - arrows never run through a node or a block name', () => {
  for (const [name, cell, type] of cases()) {
    const l = layoutCell(cell, type);
    const boxes = [...nodeBoxes(l), ...l.combines.map((c): [string, Box] => [`name b${c.block}`, nameBox(l, c.block)])];
    for (const e of l.edges) {
      for (const p of samples(e)) {
        for (const [bn, b] of boxes) {
          assert.ok(!strictlyInside(p, b, 0.5), `${name}: edge of state ${e.state} to ${JSON.stringify(e.target)} passes through ${bn} at (${p.x.toFixed(1)}, ${p.y.toFixed(1)})`);
        }
      }
    }
  }
});

test('layoutCell - arrows rise monotonically and arrive vertically', () => {
  for (const [name, cell, type] of cases()) {
    for (const e of layoutCell(cell, type).edges) {
      const pts = samples(e);
      for (let i = 1; i < pts.length; i++) assert.ok(pts[i]!.y <= pts[i - 1]!.y + EPS, `${name}: edge goes down`);
      // The last control point lies (almost: straight lines are used for
      // runs under half a pixel) straight below the end, so the arrow head
      // points up into the box.
      const last = e.segments[e.segments.length - 1]!;
      const before = last.type === 'cubic' ? last.c2 : e.segments.length > 1 ? e.segments[e.segments.length - 2]!.to : e.start;
      assert.ok(before.y > last.to.y, `${name}: arrow does not arrive from below`);
      assert.ok(Math.abs(before.x - last.to.x) / (before.y - last.to.y) < 0.03, `${name}: arrow head not vertical`);
    }
  }
});

test('layoutCell - add blocks draw the branch from the left source on the left', () => {
  // NASNet-A reduction b3 = id(b1) + avg3x3(b0): b0 sits left of b1, so
  // avg3x3 (branch 1) is drawn left of id (branch 0) to avoid a crossing.
  const l = layoutCell(NASNET_A.reduction, 'reduction');
  const b0 = l.combines[0]!;
  const b1 = l.combines[1]!;
  assert.ok(b0.x < b1.x);
  const [id, avg] = [0, 1].map((br) => l.ops.find((o) => o.block === 3 && o.branch === br)!);
  assert.equal(id!.op, 'identity');
  assert.ok(avg!.x < id!.x);
  // A concat block keeps its branch order even when that crosses.
  const concatCell: Cell = {
    blocks: [...NASNET_A.reduction.blocks.slice(0, 3), { ...NASNET_A.reduction.blocks[3]!, combine: 'concat' }],
    concat: [5],
  };
  const c = layoutCell(concatCell, 'reduction');
  const [cid, cavg] = [0, 1].map((br) => c.ops.find((o) => o.block === 3 && o.branch === br)!);
  assert.ok(cid!.x < cavg!.x);
});

test('layoutCell - a cell without blocks joins the inputs straight into the output', () => {
  const l = layoutCell({ blocks: [], concat: [0, 1] });
  assert.equal(l.ops.length, 0);
  assert.equal(l.edges.filter((e) => e.target.kind === 'output').length, 2);
  assert.ok(Number.isFinite(l.width) && Number.isFinite(l.height));
});

test('layoutCell - rejects blocks and concat entries naming missing states', () => {
  const forward: Cell = { blocks: [{ inputs: [0, 2], ops: ['identity', 'identity'], combine: 'add' }], concat: [2] };
  assert.throws(() => layoutCell(forward, 'reduction'), (e: unknown) => {
    assert.ok(e instanceof UndrawableCellError);
    assert.equal(e.path, 'reduction.blocks[0].inputs[1]');
    assert.match(e.message, /states 0\.\.1/);
    return true;
  });
  const badConcat: Cell = { blocks: NASNET_A.normal.blocks, concat: [1, 7] };
  assert.throws(() => layoutCell(badConcat), { name: 'UndrawableCellError', message: /normal\.concat\[1\] = 7/ });
  const badOp = { blocks: [{ inputs: [0, 1], ops: ['sep_conv9x9', 'identity'], combine: 'add' }], concat: [2] } as unknown as Cell;
  assert.throws(() => layoutCell(badOp), { name: 'UndrawableCellError', message: /blocks\[0\]\.ops\[0\]/ });
});
