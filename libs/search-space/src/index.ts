/**
 * The NASNet search space: the 13 operations, cells and genotypes.
 */
export { OPERATIONS, NUM_OPERATIONS, COMBINES, operationInfo, isOperation } from './operations.js';
export type { Operation, Combine, OperationKind, OperationInfo } from './operations.js';
export { INPUT_CURRENT, INPUT_PREVIOUS, NUM_CELL_INPUTS, DEFAULT_NUM_BLOCKS } from './genotype.js';
export type { Block, Cell, CellType, Genotype } from './genotype.js';
export { NASNET_A } from './nasnet.js';
