/** The child's loss became NaN or infinite: it scores 0, the process goes on. */
export class DivergedError extends Error {
  constructor(readonly epoch: number, readonly step: number, readonly loss: number) {
    super(`loss diverged to ${loss} at epoch ${epoch}, step ${step}`);
    this.name = 'DivergedError';
  }
}

/** Training was cancelled through its AbortSignal. */
export class TrainingCancelledError extends Error {
  constructor(reason?: unknown) {
    super(`training cancelled${reason instanceof Error ? `: ${reason.message}` : ''}`);
    this.name = 'TrainingCancelledError';
  }
}
