/**
 * The 13 operations of the NASNet search space, in the order the paper lists
 * them (Zoph et al. 2017, section 3). The position in this list is the
 * operation's index in the controller's softmax and in the wire format.
 */
export const OPERATIONS = [
  'identity',
  'conv1x3_3x1',
  'conv1x7_7x1',
  'dil_conv3x3',
  'avg_pool3x3',
  'max_pool3x3',
  'max_pool5x5',
  'max_pool7x7',
  'conv1x1',
  'conv3x3',
  'sep_conv3x3',
  'sep_conv5x5',
  'sep_conv7x7',
] as const;

export type Operation = (typeof OPERATIONS)[number];

/** Number of operations (13). */
export const NUM_OPERATIONS = OPERATIONS.length;

/** How a block merges its two branches. */
export const COMBINES = ['add', 'concat'] as const;
export type Combine = (typeof COMBINES)[number];

/** What kind of layer an operation is, for builders and drawings. */
export type OperationKind = 'identity' | 'pool' | 'conv' | 'separable';

export interface OperationInfo {
  readonly name: Operation;
  readonly kind: OperationKind;
  /** Kernel size along height and width (1 for identity). */
  readonly kernel: readonly [number, number];
  /** Dilation rate (1 unless dilated). */
  readonly dilation: number;
  /** Pooling flavour for pool ops. */
  readonly pool?: 'avg' | 'max';
  /** Short label used in drawings and the text form. */
  readonly label: string;
}

const INFO: Record<Operation, Omit<OperationInfo, 'name'>> = {
  identity: { kind: 'identity', kernel: [1, 1], dilation: 1, label: 'id' },
  conv1x3_3x1: { kind: 'conv', kernel: [3, 3], dilation: 1, label: '1x3+3x1' },
  conv1x7_7x1: { kind: 'conv', kernel: [7, 7], dilation: 1, label: '1x7+7x1' },
  dil_conv3x3: { kind: 'conv', kernel: [3, 3], dilation: 2, label: 'dil3x3' },
  avg_pool3x3: { kind: 'pool', kernel: [3, 3], dilation: 1, pool: 'avg', label: 'avg3x3' },
  max_pool3x3: { kind: 'pool', kernel: [3, 3], dilation: 1, pool: 'max', label: 'max3x3' },
  max_pool5x5: { kind: 'pool', kernel: [5, 5], dilation: 1, pool: 'max', label: 'max5x5' },
  max_pool7x7: { kind: 'pool', kernel: [7, 7], dilation: 1, pool: 'max', label: 'max7x7' },
  conv1x1: { kind: 'conv', kernel: [1, 1], dilation: 1, label: 'conv1x1' },
  conv3x3: { kind: 'conv', kernel: [3, 3], dilation: 1, label: 'conv3x3' },
  sep_conv3x3: { kind: 'separable', kernel: [3, 3], dilation: 1, label: 'sep3x3' },
  sep_conv5x5: { kind: 'separable', kernel: [5, 5], dilation: 1, label: 'sep5x5' },
  sep_conv7x7: { kind: 'separable', kernel: [7, 7], dilation: 1, label: 'sep7x7' },
};

/** Static facts about one operation. */
export function operationInfo(op: Operation): OperationInfo {
  return { name: op, ...INFO[op] };
}

export function isOperation(value: unknown): value is Operation {
  return typeof value === 'string' && (OPERATIONS as readonly string[]).includes(value);
}
