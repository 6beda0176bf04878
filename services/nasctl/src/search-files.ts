import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SearchEvent, SearchState } from '@nasnet/search';
import { UsageError } from './errors.js';

/**
 * The files a local search keeps in its folder while it runs: state.json
 * (the checkpoint `--resume` continues from, replaced atomically so a crash
 * never leaves half a file), events.jsonl (every event, one JSON line each)
 * and models/ (networks exported by final-phase children).
 */
export class SearchFolder {
  readonly statePath: string;
  readonly eventsPath: string;
  readonly modelsDir: string;

  constructor(readonly dir: string) {
    this.statePath = join(dir, 'state.json');
    this.eventsPath = join(dir, 'events.jsonl');
    this.modelsDir = join(dir, 'models');
  }

  /** Empties the folder for a new search. */
  reset(): void {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.modelsDir, { recursive: true });
  }

  /** The saved state, for --resume. */
  load(): SearchState {
    if (!existsSync(this.statePath)) throw new UsageError(`--resume: no saved search in ${this.statePath}`);
    try {
      return JSON.parse(readFileSync(this.statePath, 'utf8')) as SearchState;
    } catch (cause) {
      throw new UsageError(`--resume: ${this.statePath} is not a saved search: ${(cause as Error).message}`, { cause });
    }
  }

  save(state: SearchState): void {
    writeFileSync(`${this.statePath}.tmp`, JSON.stringify(state));
    renameSync(`${this.statePath}.tmp`, this.statePath);
  }

  appendEvent(event: SearchEvent): void {
    appendFileSync(this.eventsPath, `${JSON.stringify({ time: Date.now(), ...event })}\n`);
  }

  /** Where a final-phase child exports its network. */
  modelDir(childId: number): string {
    return join(this.modelsDir, `child-${childId}`);
  }
}
