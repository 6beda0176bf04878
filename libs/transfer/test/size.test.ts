import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planNetwork, planTotals } from '@nasnet/network';
import { NASNET_A } from '@nasnet/search-space';
import { NoSizeFitsError, TransferSpecError, chooseSize, fixedSize, formatSize } from '../src/index.js';

// Published figures (paper, Tables 1 and 2): NASNet-A 6@768 CIFAR-10 3.3M
// parameters; NASNet-A 4@1056 ImageNet 224x224 5.3M parameters, 564M mult-adds.
const CIFAR_PARAMS = 3.3e6;
const MOBILE_PARAMS = 5.3e6;
const MOBILE_MULT_ADDS = 564e6;
const imagenet = { genotype: NASNET_A, layout: 'imagenet' as const, imageSize: 224, numClasses: 1000 };
const cifar = { genotype: NASNET_A, layout: 'cifar' as const, imageSize: 32, numClasses: 10 };
const within = (value: number, target: number, share: number): boolean => Math.abs(value - target) <= share * target;

test('chooseSize - a 5.3M-parameter budget at 224 ImageNet picks NASNet-A 4@1056, the mobile model', (t) => {
  const s = chooseSize({ ...imagenet, budgetParams: MOBILE_PARAMS });
  t.diagnostic(`${formatSize(s)}: ${s.paramCount} parameters, ${s.multAdds} mult-adds`);
  assert.equal(formatSize(s), '4@1056');
  assert.equal(s.initialFilters, 44);
  assert.ok(s.paramCount <= MOBILE_PARAMS);
  assert.ok(within(s.paramCount, MOBILE_PARAMS, 0.02), `${s.paramCount} parameters`);
  assert.ok(within(s.multAdds, MOBILE_MULT_ADDS, 0.02), `${s.multAdds} mult-adds`);
});

test('chooseSize - a 564M mult-add budget picks 4@1056; 564M + 1% stays within 2% of the published mult-adds', (t) => {
  const exact = chooseSize({ ...imagenet, budgetMultAdds: MOBILE_MULT_ADDS });
  assert.equal(formatSize(exact), '4@1056');
  const slack = MOBILE_MULT_ADDS * 1.01;
  const coarse = chooseSize({ ...imagenet, budgetMultAdds: slack });
  const fine = chooseSize({ ...imagenet, budgetMultAdds: slack, filterStep: 1 });
  t.diagnostic(`+1%, F0 step 4: ${formatSize(coarse)} ${coarse.paramCount} params ${coarse.multAdds} mult-adds; step 1: ${formatSize(fine)} ${fine.paramCount} params ${fine.multAdds} mult-adds`);
  for (const s of [coarse, fine]) {
    assert.ok(s.multAdds <= slack && s.multAdds >= exact.multAdds, `${formatSize(s)} has ${s.multAdds} mult-adds`);
    assert.ok(within(s.multAdds, MOBILE_MULT_ADDS, 0.02));
  }
  // With every F0 allowed the pick is a near twin of the mobile model in both counts.
  assert.ok(within(fine.paramCount, MOBILE_PARAMS, 0.02), `${fine.paramCount} parameters`);
});

test('chooseSize - a CIFAR budget of 3.3M + 2% finds 6@768; every F0 allowed, a neighbour within 2%', (t) => {
  const budget = CIFAR_PARAMS * 1.02;
  const s = chooseSize({ ...cifar, budgetParams: budget });
  const fine = chooseSize({ ...cifar, budgetParams: budget, filterStep: 1 });
  t.diagnostic(`step 2: ${formatSize(s)} ${s.paramCount}; step 1: ${formatSize(fine)} ${fine.paramCount}`);
  assert.equal(formatSize(s), '6@768');
  assert.equal(s.paramCount, planNetwork(NASNET_A, { layout: 'cifar', cells: 6, filters: 768 }).paramCount);
  assert.ok(Math.abs(fine.cells - 6) <= 1, formatSize(fine));
  assert.ok(fine.paramCount <= budget && fine.paramCount >= s.paramCount);
  assert.ok(within(fine.paramCount, CIFAR_PARAMS, 0.02));
});

test('chooseSize - the pick is the largest count under the budget over every N and F0 searched', () => {
  const cellsOptions = [1, 2, 3];
  for (const [metric, budget] of [['paramCount', 400_000], ['multAdds', 90_000_000]] as const) {
    let best: { cells: number; f0: number; count: number } | undefined;
    for (const cells of cellsOptions) {
      for (let f0 = 2; ; f0 += 2) {
        const count = planTotals(planNetwork(NASNET_A, { layout: 'cifar', cells, initialFilters: f0 }))[metric];
        if (count > budget) break;
        if (!best || count > best.count || (count === best.count && cells > best.cells)) best = { cells, f0, count };
      }
    }
    const s = chooseSize({ ...cifar, cellsOptions, ...(metric === 'paramCount' ? { budgetParams: budget } : { budgetMultAdds: budget }) });
    assert.deepEqual([s.cells, s.initialFilters, s[metric]], [best!.cells, best!.f0, best!.count], metric);
  }
});

test('chooseSize - when nothing fits the error names the smallest size and its count', () => {
  const smallest = fixedSize({ ...cifar, cells: 1, initialFilters: 2 });
  assert.throws(() => chooseSize({ ...cifar, budgetParams: 1000 }), (err: unknown) => {
    assert.ok(err instanceof NoSizeFitsError);
    assert.equal(err.field, 'budgetParams');
    assert.deepEqual(err.smallest, { cells: 1, filters: 48, count: smallest.paramCount });
    assert.match(err.message, /budgetParams 1,000: no network fits; the smallest size searched, 1@48, has [\d,]+ parameters/);
    return true;
  });
  // ImageNet stem cells need F0 / 4 >= 2: the smallest buildable F0 is 8.
  assert.throws(() => chooseSize({ ...imagenet, budgetMultAdds: 10 }), /1@192, has [\d,]+ mult-adds/);
});

test('chooseSize - rejects two budgets, none, or a bad search range, naming the field', () => {
  assert.throws(() => chooseSize({ ...cifar, budgetParams: 1e6, budgetMultAdds: 1e8 }), (e: unknown) => e instanceof TransferSpecError && e.field === 'budgetParams');
  assert.throws(() => chooseSize({ ...cifar }), (e: unknown) => e instanceof TransferSpecError && e.field === 'budgetParams');
  assert.throws(() => chooseSize({ ...cifar, budgetMultAdds: -5 }), (e: unknown) => e instanceof TransferSpecError && e.field === 'budgetMultAdds');
  assert.throws(() => chooseSize({ ...cifar, budgetParams: 1e6, filterStep: 0 }), (e: unknown) => e instanceof TransferSpecError && e.field === 'filterStep');
  assert.throws(() => chooseSize({ ...cifar, budgetParams: 1e6, cellsOptions: [2, 0] }), (e: unknown) => e instanceof TransferSpecError && e.field === 'cellsOptions[1]');
});

test('fixedSize - reports the same numbers as planNetwork for N@F and for N with F0', () => {
  for (const [layout, cells, filters] of [['cifar', 6, 768], ['imagenet', 4, 1056], ['cifar', 2, 480]] as const) {
    const opts = { genotype: NASNET_A, layout, imageSize: layout === 'cifar' ? 32 : 224, numClasses: layout === 'cifar' ? 10 : 1000 };
    const plan = planNetwork(NASNET_A, { layout, cells, filters });
    const byF = fixedSize({ ...opts, cells, filters });
    const byF0 = fixedSize({ ...opts, cells, initialFilters: plan.options.initialFilters });
    const expected = { cells, filters, initialFilters: plan.options.initialFilters, paramCount: plan.paramCount, multAdds: plan.multAdds };
    assert.deepEqual(byF, expected);
    assert.deepEqual(byF0, expected);
  }
  assert.equal(fixedSize({ ...imagenet, cells: 4, filters: 1056 }).paramCount, 5_289_978);
  assert.throws(() => fixedSize({ ...cifar, cells: 2 }), (e: unknown) => e instanceof TransferSpecError && e.field === 'filters');
});
