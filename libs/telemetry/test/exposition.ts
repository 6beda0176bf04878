/**
 * A small, strict reader of the text exposition format 0.0.4, written from
 * the format description, for tests: it checks what our writer promises
 * (HELP before TYPE before samples, one family per name, histogram suffixes,
 * escapes) and returns the samples with their labels unescaped.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

export class ExpositionParseError extends Error {
  constructor(line: number, detail: string) {
    super(`exposition line ${line}: ${detail}`);
    this.name = 'ExpositionParseError';
  }
}

function unescape(s: string, line: number, quotes: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') { out += c; continue; }
    const n = s[++i];
    if (n === '\\') out += '\\';
    else if (n === 'n') out += '\n';
    else if (n === '"' && quotes) out += '"';
    else throw new ExpositionParseError(line, `bad escape \\${n ?? '(end)'}`);
  }
  return out;
}

function parseValue(s: string, line: number): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new ExpositionParseError(line, `bad value '${s}'`);
  return Number(s);
}

/** Parses `{a="x",b="y"}` starting at text[0] === '{'; returns labels and the index after '}'. */
function parseLabels(text: string, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = 1;
  while (text[i] !== '}') {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i));
    if (!m) throw new ExpositionParseError(line, `bad label at column ${i}`);
    const name = m[1]!;
    i += m[0].length;
    let raw = '';
    while (text[i] !== '"') {
      if (i >= text.length) throw new ExpositionParseError(line, 'unterminated label value');
      if (text[i] === '\\') raw += text[i++];
      raw += text[i++];
    }
    i++;
    if (name in labels) throw new ExpositionParseError(line, `label ${name} given twice`);
    labels[name] = unescape(raw, line, true);
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new ExpositionParseError(line, `expected , or } at column ${i}`);
  }
  return { labels, end: i + 1 };
}

export function parseExposition(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new ExpositionParseError(text.split('\n').length, 'no final line feed');
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((l, idx) => {
    const line = idx + 1;
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(l))) {
      if (families.has(m[1]!)) throw new ExpositionParseError(line, `family ${m[1]} appears twice`);
      current = { name: m[1]!, help: unescape(m[2]!, line, false), type: '', samples: [] };
      families.set(current.name, current);
    } else if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(l))) {
      if (!current || current.name !== m[1] || current.type || current.samples.length) throw new ExpositionParseError(line, `TYPE for ${m[1]} out of place`);
      current.type = m[2]!;
    } else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(l))) {
      if (!current || !current.type) throw new ExpositionParseError(line, 'sample before HELP and TYPE');
      const name = m[1]!;
      const allowed = current.type === 'histogram' ? [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`] : [current.name];
      if (!allowed.includes(name)) throw new ExpositionParseError(line, `sample ${name} does not belong to family ${current.name}`);
      let rest = l.slice(name.length);
      let labels: Record<string, string> = {};
      if (rest.startsWith('{')) {
        const parsed = parseLabels(rest, line);
        labels = parsed.labels;
        rest = rest.slice(parsed.end);
      }
      if (!rest.startsWith(' ')) throw new ExpositionParseError(line, 'no space before the value');
      current.samples.push({ name, labels, value: parseValue(rest.slice(1), line) });
    } else {
      throw new ExpositionParseError(line, `unreadable line '${l}'`);
    }
  });
  return families;
}

/** The value of the one sample with exactly these labels, or undefined. */
export function sampleValue(families: Map<string, Family>, family: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(family);
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = f?.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want) ?? [];
  if (hits.length > 1) throw new Error(`${hits.length} samples ${name}${want}`);
  return hits[0]?.value;
}
