import { InvalidNetworkOptionError } from './errors.js';

/** Inputs of the ScheduledDropPath keep probability. */
export interface DropPathSchedule {
  /** keep0, the final keep probability of the last cell (0.6 in the CIFAR recipe). */
  readonly keepProb: number;
  /** 0-based index of the cell, counting stem and reduction cells (reference: cell_num). */
  readonly cell: number;
  /** Cells in the network: 3N + 2 reductions (+ 2 ImageNet stem cells). */
  readonly totalCells: number;
  /** Current training step. @default 0 */
  readonly step?: number;
  /** Steps over which the drop rate ramps up from 0; <= 0 means no ramp (full rate from step 0). @default 0 */
  readonly totalSteps?: number;
}

/**
 * ScheduledDropPath keep probability (paper section 4.1; reference
 * nasnet_utils.py _apply_drop_path, drop_connect_version 'v3'):
 *   keep = 1 - ((cell + 1) / totalCells) * (1 - keep0)        deeper cells drop more
 *   keep = 1 - min(1, step / totalSteps) * (1 - keep)         and the rate grows linearly in time
 */
export function dropPathKeepProb(schedule: DropPathSchedule): number {
  const { keepProb, cell, totalCells } = schedule;
  const step = schedule.step ?? 0;
  const totalSteps = schedule.totalSteps ?? 0;
  if (!(Number.isFinite(keepProb) && keepProb > 0 && keepProb <= 1)) {
    throw new InvalidNetworkOptionError('keepProb', keepProb, 'must be in (0, 1]');
  }
  if (!(Number.isInteger(totalCells) && totalCells >= 1)) {
    throw new InvalidNetworkOptionError('totalCells', totalCells, 'must be an integer >= 1');
  }
  if (!(Number.isInteger(cell) && cell >= 0 && cell < totalCells)) {
    throw new InvalidNetworkOptionError('cell', cell, `must be an integer in [0, ${totalCells})`);
  }
  if (!(Number.isFinite(step) && step >= 0)) throw new InvalidNetworkOptionError('step', step, 'must be >= 0');
  if (!Number.isFinite(totalSteps)) throw new InvalidNetworkOptionError('totalSteps', totalSteps, 'must be a finite number');
  const layerRatio = (cell + 1) / totalCells;
  const cellKeep = 1 - layerRatio * (1 - keepProb);
  const timeRatio = totalSteps > 0 ? Math.min(1, step / totalSteps) : 1;
  return 1 - timeRatio * (1 - cellKeep);
}
