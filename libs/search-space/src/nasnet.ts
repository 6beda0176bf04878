import type { Genotype } from './genotype.js';

/**
 * NASNet-A, as in the reference implementation (tensorflow/models,
 * research/slim/nets/nasnet/nasnet_utils.py: NasNetANormalCell and
 * NasNetAReductionCell) and Figure 4 of the paper. Index 0 = h_i,
 * 1 = h_{i-1}, 2 + k = block k. All combines are add.
 */
export const NASNET_A: Genotype = {
  normal: {
    blocks: [
      { inputs: [0, 1], ops: ['sep_conv5x5', 'sep_conv3x3'], combine: 'add' },
      { inputs: [1, 1], ops: ['sep_conv5x5', 'sep_conv3x3'], combine: 'add' },
      { inputs: [0, 1], ops: ['avg_pool3x3', 'identity'], combine: 'add' },
      { inputs: [1, 1], ops: ['avg_pool3x3', 'avg_pool3x3'], combine: 'add' },
      { inputs: [0, 0], ops: ['sep_conv3x3', 'identity'], combine: 'add' },
    ],
    // The reference concatenates h_{i-1} too (used_hiddenstates = [1,0,...]).
    concat: [1, 2, 3, 4, 5, 6],
  },
  reduction: {
    blocks: [
      { inputs: [0, 1], ops: ['sep_conv5x5', 'sep_conv7x7'], combine: 'add' },
      { inputs: [0, 1], ops: ['max_pool3x3', 'sep_conv7x7'], combine: 'add' },
      { inputs: [0, 1], ops: ['avg_pool3x3', 'sep_conv5x5'], combine: 'add' },
      { inputs: [3, 2], ops: ['identity', 'avg_pool3x3'], combine: 'add' },
      { inputs: [2, 0], ops: ['sep_conv3x3', 'max_pool3x3'], combine: 'add' },
    ],
    concat: [3, 4, 5, 6],
  },
};
