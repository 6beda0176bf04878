/**
 * A small strict XML reader for the tests: it rejects what a real XML
 * parser would (unbalanced or mismatched tags, a raw `<` or `&` in text or
 * attributes, unknown entities, duplicate attributes, several roots) and
 * returns the element tree for queries.
 */

export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlNode[];
  /** Byte offset of the start tag, for messages. */
  readonly offset: number;
}

/** An element, or decoded character data. */
export type XmlNode = XmlElement | string;

export class XmlSyntaxError extends Error {
  constructor(offset: number, problem: string) {
    super(`XML error at offset ${offset}: ${problem}`);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[A-Za-z_:][A-Za-z0-9_.:-]*/y;
const SPACE = /[ \t\r\n]*/y;

function decode(raw: string, at: number): string {
  return raw.replace(/&([^;]*);?/g, (match, body: string, i: number) => {
    if (!match.endsWith(';')) throw new XmlSyntaxError(at + i, `raw '&' (unterminated reference)`);
    switch (body) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    const num = /^#([0-9]+)$/.exec(body) ?? /^#x([0-9a-fA-F]+)$/.exec(body);
    if (num === null) throw new XmlSyntaxError(at + i, `unknown entity &${body};`);
    return String.fromCodePoint(parseInt(num[1]!, body.startsWith('#x') ? 16 : 10));
  });
}

/** Parses a whole document and returns its single root element. */
export function parseXml(src: string): XmlElement {
  let pos = 0;
  const skipMisc = () => {
    for (;;) {
      SPACE.lastIndex = pos;
      SPACE.exec(src);
      pos = SPACE.lastIndex;
      if (src.startsWith('<!--', pos)) {
        const end = src.indexOf('-->', pos + 4);
        if (end < 0) throw new XmlSyntaxError(pos, 'unterminated comment');
        pos = end + 3;
      } else if (src.startsWith('<?', pos)) {
        const end = src.indexOf('?>', pos + 2);
        if (end < 0) throw new XmlSyntaxError(pos, 'unterminated processing instruction');
        pos = end + 2;
      } else return;
    }
  };
  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(src);
    if (m === null) throw new XmlSyntaxError(pos, 'expected a name');
    pos = NAME.lastIndex;
    return m[0];
  };
  const readElement = (): XmlElement => {
    const offset = pos;
    if (src[pos] !== '<') throw new XmlSyntaxError(pos, "expected '<'");
    pos++;
    const name = readName();
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = pos;
      SPACE.lastIndex = pos;
      SPACE.exec(src);
      pos = SPACE.lastIndex;
      if (src.startsWith('/>', pos)) {
        pos += 2;
        return { name, attrs, children: [], offset };
      }
      if (src[pos] === '>') {
        pos++;
        break;
      }
      if (pos === before) throw new XmlSyntaxError(pos, `expected whitespace before an attribute in <${name}>`);
      const attr = readName();
      if (src[pos] !== '=') throw new XmlSyntaxError(pos, `expected '=' after ${attr}`);
      pos++;
      const quote = src[pos];
      if (quote !== '"' && quote !== "'") throw new XmlSyntaxError(pos, `unquoted value of ${attr}`);
      const end = src.indexOf(quote, pos + 1);
      if (end < 0) throw new XmlSyntaxError(pos, `unterminated value of ${attr}`);
      const raw = src.slice(pos + 1, end);
      if (raw.includes('<')) throw new XmlSyntaxError(pos, `raw '<' in value of ${attr}`);
      if (Object.hasOwn(attrs, attr)) throw new XmlSyntaxError(pos, `duplicate attribute ${attr} in <${name}>`);
      attrs[attr] = decode(raw, pos + 1);
      pos = end + 1;
    }
    const children: XmlNode[] = [];
    for (;;) {
      if (pos >= src.length) throw new XmlSyntaxError(offset, `<${name}> is never closed`);
      if (src.startsWith('</', pos)) {
        pos += 2;
        const close = readName();
        if (close !== name) throw new XmlSyntaxError(pos, `</${close}> closes <${name}> (opened at ${offset})`);
        SPACE.lastIndex = pos;
        SPACE.exec(src);
        pos = SPACE.lastIndex;
        if (src[pos] !== '>') throw new XmlSyntaxError(pos, "expected '>'");
        pos++;
        return { name, attrs, children, offset };
      }
      if (src.startsWith('<!--', pos)) {
        const end = src.indexOf('-->', pos + 4);
        if (end < 0) throw new XmlSyntaxError(pos, 'unterminated comment');
        pos = end + 3;
      } else if (src[pos] === '<') {
        children.push(readElement());
      } else {
        const end = src.indexOf('<', pos);
        const raw = src.slice(pos, end < 0 ? src.length : end);
        if (raw.includes(']]>')) throw new XmlSyntaxError(pos, "']]>' in character data");
        children.push(decode(raw, pos));
        pos += raw.length;
      }
    }
  };
  skipMisc();
  if (src.startsWith('<!DOCTYPE', pos)) throw new XmlSyntaxError(pos, 'DOCTYPE not expected');
  const root = readElement();
  skipMisc();
  if (pos !== src.length) throw new XmlSyntaxError(pos, 'content after the root element');
  return root;
}

/** Every element of the tree, depth first, the root included. */
export function elements(root: XmlElement): XmlElement[] {
  const out: XmlElement[] = [root];
  for (const child of root.children) if (typeof child !== 'string') out.push(...elements(child));
  return out;
}

/** Concatenated character data of an element and its descendants. */
export function textContent(node: XmlNode): string {
  return typeof node === 'string' ? node : node.children.map(textContent).join('');
}

/** Whether an element's class list has every one of `classes`. */
export function hasClass(e: XmlElement, ...classes: string[]): boolean {
  const list = (e.attrs['class'] ?? '').split(/\s+/);
  return classes.every((c) => list.includes(c));
}

/** Elements carrying all of `classes`. */
export function byClass(root: XmlElement, ...classes: string[]): XmlElement[] {
  return elements(root).filter((e) => hasClass(e, ...classes));
}

/** The direct child elements named `name`. */
export function childElements(e: XmlElement, name?: string): XmlElement[] {
  return e.children.filter((c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name));
}

// Attributes that hold numbers or lists of numbers in our drawings.
const NUMERIC_ATTRS = new Set(['x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx', 'width', 'height', 'dy', 'font-size', 'stroke-width', 'refX', 'refY', 'markerWidth', 'markerHeight', 'fill-opacity']);

/** Every number in coordinate-bearing attributes (`d`, `viewBox`, `transform` too), with where it came from. */
export function numbersIn(root: XmlElement): Array<{ where: string; raw: string; value: number }> {
  const out: Array<{ where: string; raw: string; value: number }> = [];
  for (const e of elements(root)) {
    for (const [key, value] of Object.entries(e.attrs)) {
      const isList = key === 'd' || key === 'viewBox' || key === 'transform' || key === 'points' || key === 'stroke-dasharray';
      if (!NUMERIC_ATTRS.has(key) && !isList) continue;
      // Strip only path commands and transform names: any other letters
      // (NaN, Infinity) survive into a token that fails Number().
      const tokens = isList
        ? value.replace(/translate|rotate|scale|matrix/g, ' ').replace(/[MLHVCSQTAZmlhvcsqtaz(),]/g, ' ').trim().split(/\s+/).filter(Boolean)
        : [value];
      for (const raw of tokens) out.push({ where: `<${e.name} ${key}> at ${e.offset}`, raw, value: Number(raw) });
    }
  }
  return out;
}
