import { sparkline } from '@nasnet/report';
import type { SearchEvent, SearchSpec } from '@nasnet/search';
import { ProgressBar } from './progress.js';
import { formatDuration } from './format.js';

/**
 * What a local search prints while it runs: one line per finished child and
 * policy update, and a progress bar with the best reward so far, a
 * sparkline of the last rewards and what is training now.
 */
export class SearchProgress {
  readonly bar: ProgressBar;
  private done: number;
  private best = 0;
  private readonly rewards: number[] = [];
  private status = 'starting';

  constructor(stream: NodeJS.WriteStream, private readonly spec: SearchSpec, alreadyDone = 0) {
    this.bar = new ProgressBar(stream, spec.budget.architectures + spec.finalPhase.topK);
    this.done = alreadyDone;
  }

  log(line: string): void {
    this.bar.log(line);
  }

  onEvent(e: SearchEvent): void {
    switch (e.type) {
      case 'child_progress': {
        const p = e.progress;
        this.status = `child ${p.childId} ep ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} ${p.imagesPerSec.toFixed(0)} img/s`;
        break;
      }
      case 'child_finished': {
        this.done++;
        if (e.phase === 'search') this.rewards.push(e.result.reward);
        const r = e.result;
        this.bar.log(`child ${String(e.childId).padStart(3)} ${e.phase === 'final' ? 'final ' : ''}${r.status}${e.cached ? ' (cached)' : ''} reward ${r.reward.toFixed(4)} in ${formatDuration(r.trainSeconds)}${r.reason ? ` - ${r.reason}` : ''}`);
        break;
      }
      case 'best_improved':
        this.best = e.reward;
        break;
      case 'policy_updated':
        this.bar.log(`policy update ${e.update.update}: mean reward ${e.update.meanReward.toFixed(4)}, baseline ${e.update.baseline.toFixed(4)}, entropy ${e.update.entropy.toFixed(2)}, ${e.update.updateMs.toFixed(0)} ms`);
        break;
      case 'phase':
        if (e.phase === 'final') {
          const f = this.spec.finalPhase;
          this.bar.log(`final phase: retraining the top ${f.topK} unique cell(s) for ${f.epochs} epoch(s) at F0 ${f.filters}, N ${f.cells}; the retrained rewards decide the best`);
        }
        break;
      default:
        break;
    }
    this.bar.update(this.done, `best ${this.best.toFixed(4)} ${sparkline(this.rewards.slice(-20))} | ${this.status}`);
  }

  finish(): void {
    this.bar.finish();
  }
}
