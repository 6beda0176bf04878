/**
 * A few helpers for writing SVG by hand: XML escaping, number formatting
 * that refuses NaN, and an element builder. Every drawing in this lib goes
 * through `el`, so escaping and number checks live in one place.
 */
import { NonFiniteCoordinateError } from './errors.js';

export const SVG_NS = 'http://www.w3.org/2000/svg';

/** Sans-serif stack: the paper's figures use a plain sans face. */
export const FONT_FAMILY = "Helvetica, Arial, 'DejaVu Sans', sans-serif";

// Characters XML 1.0 forbids anywhere in a document (section 2.2, Char),
// plus lone surrogates: dropped rather than escaped, since no escape exists.
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Escapes text for XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML_CHARS, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * Formats a coordinate with at most two decimals (1/100 px is far below
 * what any renderer shows) so output is short and stable. `where` names
 * the element and attribute for the error.
 */
export function fmt(n: number, where = 'coordinate'): string {
  if (!Number.isFinite(n)) throw new NonFiniteCoordinateError(where, n);
  const r = Math.round(n * 100) / 100;
  // Math.round(-0.001 * 100) is -0, which prints as "0" anyway, but a tiny
  // negative like -0.004 must not become "-0".
  return Object.is(r, -0) ? '0' : String(r);
}

export type AttrValue = string | number | undefined;

/**
 * Serialises one element. Numeric attributes go through `fmt`, string ones
 * through `escapeXml`; undefined ones are left out. `children` are already
 * serialised markup (use `text()` for character data).
 */
export function el(name: string, attrs: Record<string, AttrValue>, children: readonly string[] = []): string {
  let out = `<${name}`;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    const v = typeof value === 'number' ? fmt(value, `<${name} ${key}>`) : escapeXml(value);
    out += ` ${key}="${v}"`;
  }
  if (children.length === 0) return `${out}/>`;
  return `${out}>${children.join('')}</${name}>`;
}

/** Escaped character data. */
export function text(content: string): string {
  return escapeXml(content);
}

/** A 2-D point. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** One piece of a path: a straight line or a cubic Bezier curve. */
export type PathSegment =
  | { readonly type: 'line'; readonly to: Point }
  | { readonly type: 'cubic'; readonly c1: Point; readonly c2: Point; readonly to: Point };

/** SVG path data for a start point and segments. */
export function pathData(start: Point, segments: readonly PathSegment[], where = '<path d>'): string {
  const p = (pt: Point) => `${fmt(pt.x, where)} ${fmt(pt.y, where)}`;
  let d = `M${p(start)}`;
  for (const s of segments) {
    d += s.type === 'line' ? ` L${p(s.to)}` : ` C${p(s.c1)} ${p(s.c2)} ${p(s.to)}`;
  }
  return d;
}

/** Rough width of a sans-serif string: 0.6 em a character is the average
 *  advance of Helvetica/DejaVu Sans for lower-case text and digits. */
export function textWidth(content: string, fontSize: number): number {
  return [...content].length * fontSize * 0.6;
}

/** The document wrapper: root `<svg>` with size, viewBox and font, then
 *  `<title>` and `<desc>` (first, as SVG accessibility asks), a white
 *  background and the body. */
export function svgDocument(width: number, height: number, label: string, desc: string, body: readonly string[]): string {
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  return (
    el(
      'svg',
      {
        xmlns: SVG_NS,
        width: w,
        height: h,
        viewBox: `0 0 ${fmt(w)} ${fmt(h)}`,
        'font-family': FONT_FAMILY,
        role: 'img',
        'aria-label': label,
      },
      [el('title', {}, [text(label)]), el('desc', {}, [text(desc)]), el('rect', { x: 0, y: 0, width: w, height: h, fill: '#ffffff' }), ...body],
    ) + '\n'
  );
}
