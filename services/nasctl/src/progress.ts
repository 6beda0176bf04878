import { formatDuration } from './format.js';

/**
 * A one-line progress bar redrawn in place on a terminal; on a pipe or a log
 * file it prints a plain line at most every few seconds instead.
 */
export class ProgressBar {
  private lastPlain = 0;
  private finished = false;
  private readonly started = performance.now();

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
    private readonly plainEveryMs = 5000,
  ) {}

  update(done: number, status: string): void {
    const width = 24;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const filled = Math.round(frac * width);
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = done > 0 && done < this.total ? formatDuration((elapsed / done) * (this.total - done)) : '--';
    const line = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${this.total} ${status} | ${formatDuration(elapsed)} eta ${eta}`;
    if (this.stream.isTTY) {
      const cols = this.stream.columns ?? 120;
      this.stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
    } else if (!this.finished && (performance.now() - this.lastPlain >= this.plainEveryMs || done === this.total)) {
      this.lastPlain = performance.now();
      this.finished = done === this.total;
      this.stream.write(`${line}\n`);
    }
  }

  /** Prints a full line above the bar. */
  log(line: string): void {
    if (this.stream.isTTY) {
      const cols = this.stream.columns ?? 120;
      this.stream.write(`\r${' '.repeat(cols - 1)}\r${line}\n`);
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
