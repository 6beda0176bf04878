/**
 * nasctl: the command-line client. Each subcommand lives in its own file;
 * this one only dispatches and turns errors into exit codes.
 */
import { describeCommand } from './describe.js';
import { searchCommand } from './search-local.js';
import { transferCommand } from './transfer.js';
import { compareCommand } from './compare.js';
import { upCommand } from './up.js';
import { UsageError } from './errors.js';
import { ConfigError } from '@nasnet/config';
import { nasctlConfigFromEnv, type NasctlConfig } from './config.js';

type Command = (argv: string[], io: CliIO) => Promise<number>;

export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** True when stderr is a terminal (progress bars are drawn only then). */
  isTTY: boolean;
  /** Settings from the environment (config.ts); main() reads them once when the caller gives none. */
  config: NasctlConfig;
}

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  search: { run: searchCommand, summary: 'run a whole search on this machine (--local): workers, progress bar, report folder' },
  transfer: { run: transferCommand, summary: 'stack found cells into a CIFAR or ImageNet network (N@F or a budget), train and export it' },
  compare: { run: compareCommand, summary: 'strategies over seeds: mean and 95% interval of the best and top-5 unique rewards, one chart' },
  up: { run: upCommand, summary: 'start nats-server, the controller (local trainers), metrics and transfer on this machine; Ctrl-C stops them' },
  describe: { run: describeCommand, summary: 'print a genotype (text form, hash) and its network size for a layout and N@F' },
};

function usage(): string {
  const lines = ['usage: nasctl <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `nasctl <command> --help` for the options of one command.');
  return lines.join('\n');
}

export async function main(argv: string[], given: Omit<CliIO, 'config'> & { config?: NasctlConfig } = defaultIO()): Promise<number> {
  let io: CliIO;
  try {
    io = { ...given, config: given.config ?? nasctlConfigFromEnv(process.env) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    given.err(`nasctl: ${err.message}`);
    return 2;
  }
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`nasctl: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`nasctl ${name}: ${err.message}`);
      return 2;
    }
    io.err(`nasctl ${name}: ${err instanceof Error ? err.message : String(err)}`);
    if (io.config.debug && err instanceof Error) io.err(err.stack ?? '');
    return 1;
  }
}

function defaultIO(): Omit<CliIO, 'config'> {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    isTTY: Boolean(process.stderr.isTTY),
  };
}
