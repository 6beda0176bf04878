/** A variable is set to something the process cannot run with (or a required one is missing). */
export class ConfigError extends Error {
  /** The variable's name, e.g. `GRPC_PORT`. */
  readonly variable: string;
  /** What it was set to; undefined when unset. Hidden in the message for secrets. */
  readonly value: string | undefined;
  /** What would have been accepted, e.g. `a TCP port, 0 to 65535`. */
  readonly expected: string;

  constructor(variable: string, value: string | undefined, expected: string, options?: ErrorOptions & { secret?: boolean }) {
    super(`${variable}=${shown(value, options?.secret ?? false)}: expected ${expected}`, options);
    this.name = 'ConfigError';
    this.variable = variable;
    this.value = value;
    this.expected = expected;
  }
}

function shown(value: string | undefined, secret: boolean): string {
  if (value === undefined) return '(unset)';
  // A password or token never reaches a log line; its length is enough to spot an empty or truncated one.
  if (secret) return `(hidden, ${value.length} characters)`;
  return JSON.stringify(value);
}

/** A line of a token file cannot be used. */
export class TokenFileError extends Error {
  readonly file: string;
  /** 1-based line number; 0 when the file as a whole is at fault (unreadable, no tokens). */
  readonly line: number;

  constructor(file: string, line: number, reason: string, options?: ErrorOptions) {
    super(line > 0 ? `${file} line ${line}: ${reason}` : `${file}: ${reason}`, options);
    this.name = 'TokenFileError';
    this.file = file;
    this.line = line;
  }
}
