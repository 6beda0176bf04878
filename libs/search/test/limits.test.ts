import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_SEARCH_LIMITS, LimitsFileError, SearchLimitError, STATE_BYTES_PER_CHILD, checkSearchLimits, normalizeSpec, parseSearchLimits,
} from '@nasnet/search';

test('search limits - a limits document: the search section over the defaults, other sections left to their services', () => {
  assert.deepEqual(parseSearchLimits(undefined, 'limits.yaml'), DEFAULT_SEARCH_LIMITS);
  assert.deepEqual(parseSearchLimits({ transfer: { imageSize: 64 } }, 'limits.yaml'), DEFAULT_SEARCH_LIMITS);
  assert.deepEqual(parseSearchLimits({ search: { concurrency: 32, childDeadlineSeconds: 0 } }, 'limits.yaml'), { ...DEFAULT_SEARCH_LIMITS, concurrency: 32, childDeadlineSeconds: 0 });
  for (const [value, message] of [
    [[1], /^limits limits\.yaml: \(root\): expected a mapping/],
    [{ search: { concurrency: 0 } }, /^limits limits\.yaml: search\.concurrency: expected an integer from 1 to 10000, got 0$/],
    [{ search: { epochz: 3 } }, /^limits limits\.yaml: search\.epochz: unknown field/],
    [{ search: { stateBytes: '64Mi' } }, /search\.stateBytes: expected an integer/],
  ] as const) {
    assert.throws(() => parseSearchLimits(value, 'limits.yaml'), (e: unknown) => e instanceof LimitsFileError && message.test(e.message));
  }
});

test('search limits - sizes are INVALID_ARGUMENT-class, concurrency capacity-class; the state estimate bounds architectures', () => {
  const limits = { ...DEFAULT_SEARCH_LIMITS, architectures: 50, concurrency: 2, stateBytes: 40 * STATE_BYTES_PER_CHILD };
  checkSearchLimits(normalizeSpec({ budget: { architectures: 40, concurrency: 2 } }), limits);
  const refused = (input: Parameters<typeof normalizeSpec>[0]) => {
    try {
      checkSearchLimits(normalizeSpec(input), limits);
    } catch (err) {
      assert.ok(err instanceof SearchLimitError);
      return err;
    }
    return assert.fail('accepted');
  };
  assert.deepEqual(pick(refused({ budget: { architectures: 51, concurrency: 1 } })), { field: 'budget.architectures', kind: 'size', limit: 50 });
  assert.deepEqual(pick(refused({ budget: { architectures: 10, concurrency: 3 } })), { field: 'budget.concurrency', kind: 'capacity', limit: 2 });
  assert.deepEqual(pick(refused({ budget: { architectures: 10, concurrency: 1 }, finalPhase: { topK: 2, cells: 7 } })), { field: 'finalPhase.cells', kind: 'size', limit: 6 });
  const state = refused({ budget: { architectures: 41, concurrency: 1 } });
  assert.deepEqual(pick(state), { field: 'budget.architectures', kind: 'size', limit: 40 });
  assert.match(state.message, /stored state would reach about \d+ bytes, the state limit is \d+/);
});

function pick(e: SearchLimitError) {
  return { field: e.field, kind: e.kind, limit: e.limit };
}
