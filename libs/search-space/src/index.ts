/**
 * The NASNet search space: the 13 operations, cells and genotypes, their
 * validation, JSON and text forms, canonical hashing, named genotypes,
 * seeded sampling and mutation, and the controller's decision encoding.
 *
 * ```ts
 * import { Rng } from '@nasnet/random';
 * import { sampleGenotype, formatGenotype, parseGenotype, genotypeHash } from '@nasnet/search-space';
 * const g = sampleGenotype(new Rng(42));
 * const text = formatGenotype(g);        // "normal: sep3x3(0) + id(1); ... | reduction: ..."
 * parseGenotype(text);                   // deep-equals g
 * genotypeHash(g);                       // same for every isomorphic numbering of g
 * ```
 */
export { OPERATIONS, NUM_OPERATIONS, COMBINES, operationInfo, isOperation } from './operations.js';
export type { Operation, Combine, OperationKind, OperationInfo } from './operations.js';
export { INPUT_CURRENT, INPUT_PREVIOUS, NUM_CELL_INPUTS, DEFAULT_NUM_BLOCKS } from './genotype.js';
export type { Block, Cell, CellType, Genotype } from './genotype.js';
export { NASNET_A } from './nasnet.js';
export { MAX_NUM_BLOCKS } from './internal.js';
export {
  GenotypeValidationError,
  GenotypeDecodeError,
  GenotypeParseError,
  UnknownGenotypeNameError,
  DecisionError,
} from './errors.js';
export { validateGenotype, validateCell } from './validate.js';
export type { ValidateOptions } from './validate.js';
export { genotypeFromJSON } from './json.js';
export { OPERATION_TEXT_LABELS, formatGenotype, formatCell, parseGenotype, parseCell } from './text.js';
export type { CellTextOptions } from './text.js';
export { canonicalGenotype, canonicalCell, genotypeHash, cellHash } from './canonical.js';
export { NAMED_GENOTYPES, getNamedGenotype, namedGenotypeNames } from './named.js';
export {
  CELL_TYPES,
  DECISION_FIELDS,
  DECISIONS_PER_BLOCK,
  decisionSpace,
  decisionSlotName,
  decisionsToGenotype,
  genotypeToDecisions,
  defaultConcat,
} from './decisions.js';
export type { DecisionField, DecisionSlot } from './decisions.js';
export { sampleDecisions, sampleGenotype, mutateGenotype } from './sample.js';
