/**
 * Colours and labels shared by the SVG and terminal drawings. The palette
 * follows the spirit of the NASNet paper's Figure 4 (Zoph et al. 2017):
 * separable convolutions yellow, pooling blue, combine ("add") nodes green,
 * the output concat pink, hidden states grey.
 */
import { operationInfo } from '@nasnet/search-space';
import type { CellType, Combine, Operation, OperationKind } from '@nasnet/search-space';

/** Fill, border and text colour of one kind of node. */
export interface NodeColors {
  readonly fill: string;
  readonly stroke: string;
  readonly text: string;
}

/** Operation boxes, by operation kind. */
export const OPERATION_KIND_COLORS: Readonly<Record<OperationKind, NodeColors>> = Object.freeze({
  separable: { fill: '#fde68a', stroke: '#b45309', text: '#451a03' },
  conv: { fill: '#fecaca', stroke: '#b91c1c', text: '#450a0a' },
  pool: { fill: '#bfdbfe', stroke: '#1d4ed8', text: '#172554' },
  identity: { fill: '#e5e7eb', stroke: '#4b5563', text: '#111827' },
});

/** Combine nodes, by combine kind. */
export const COMBINE_COLORS: Readonly<Record<Combine, NodeColors>> = Object.freeze({
  add: { fill: '#bbf7d0', stroke: '#15803d', text: '#052e16' },
  concat: { fill: '#e9d5ff', stroke: '#7e22ce', text: '#3b0764' },
});

/** The cell's two input states and its output concat. */
export const INPUT_COLORS: NodeColors = Object.freeze({ fill: '#f1f5f9', stroke: '#334155', text: '#0f172a' });
export const OUTPUT_COLORS: NodeColors = Object.freeze({ fill: '#fbcfe8', stroke: '#be185d', text: '#500724' });

/** Edges and secondary text. */
export const EDGE_COLOR = '#475569';
export const MUTED_TEXT_COLOR = '#64748b';

/** Legend names of the operation kinds, in legend order. */
export const OPERATION_KIND_NAMES: ReadonlyArray<readonly [OperationKind, string]> = [
  ['separable', 'separable conv'],
  ['conv', 'conv'],
  ['pool', 'pool'],
  ['identity', 'identity'],
];

/**
 * Plain-text name of hidden state `state`: `h[i]`, `h[i-1]` for the cell's
 * inputs (0 and 1, as in the genotype), `b<k>` for block k's output.
 */
export function stateName(state: number): string {
  if (state === 0) return 'h[i]';
  if (state === 1) return 'h[i-1]';
  return `b${state - 2}`;
}

/**
 * Label of a branch's operation. In a reduction cell the ops that read the
 * cell's inputs run with stride 2 (paper section 3: "all operations applied
 * to the cell's inputs have a stride of two"), marked `/2` as in DESIGN.md's
 * NASNet-A listing.
 */
export function branchLabel(op: Operation, input: number, cellType: CellType): string {
  const label = operationInfo(op).label;
  return cellType === 'reduction' && input < 2 ? `${label}/2` : label;
}
