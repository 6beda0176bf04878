/** One environment variable a service reads: declared once, used for parsing, docs and the manifest check. */
export interface EnvVariable {
  readonly name: string;
  /** The process refuses to start without it. */
  readonly required: boolean;
  /** The value used when it is unset or empty, as the user would write it. */
  readonly default?: string;
  /** One sentence for an operator: what it sets and what values it takes. */
  readonly meaning: string;
  /** A password or token: its value never appears in an error message. @default false */
  readonly secret?: boolean;
  /**
   * Set when a library under the service reads it rather than our code
   * (e.g. 'libtensorflow'): declared so a manifest may set it, but the
   * config function does not parse it.
   */
  readonly readBy?: string;
}

/** The environment a config function reads (the process environment at the edge, a plain object in tests). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The table cells of a markdown row: pipes escaped, line breaks folded. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/**
 * Renders a list of variables as a markdown table (Variable, Required,
 * Default, Meaning), in the list's order, ending with a newline.
 */
export function describeVariables(list: readonly EnvVariable[]): string {
  const rows = [
    '| Variable | Required | Default | Meaning |',
    '| --- | --- | --- | --- |',
    ...list.map((v) => `| \`${v.name}\` | ${v.required ? 'yes' : 'no'} | ${v.default !== undefined && v.default !== '' ? `\`${cell(v.default)}\`` : ''} | ${cell(v.meaning)} |`),
  ];
  return `${rows.join('\n')}\n`;
}
