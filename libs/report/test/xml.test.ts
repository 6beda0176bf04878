import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XmlSyntaxError, elements, numbersIn, parseXml, textContent } from './xml.js';

// The SVG tests lean on this checker, so it must reject what a real XML
// parser rejects.
test('xml checker - accepts a well-formed document and decodes entities', () => {
  const root = parseXml('<?xml version="1.0"?>\n<svg a="1 &amp; 2"><!-- c --><text>x &lt; y &#65;&#x42;</text><g/></svg>\n');
  assert.equal(root.name, 'svg');
  assert.equal(root.attrs['a'], '1 & 2');
  assert.equal(textContent(root), 'x < y AB');
  assert.deepEqual(elements(root).map((e) => e.name), ['svg', 'text', 'g']);
});

test('xml checker - rejects malformed documents', () => {
  const bad = [
    '<svg><g></svg>',
    '<svg><g></g>',
    '<svg></svg><svg></svg>',
    '<svg>a & b</svg>',
    '<svg a="x<y"/>',
    '<svg a="1" a="2"/>',
    '<svg a=1/>',
    '<svg>&nbsp;</svg>',
    '<svg a="1"b="2"/>',
    'text<svg/>',
  ];
  for (const doc of bad) assert.throws(() => parseXml(doc), XmlSyntaxError, doc);
});

test('xml checker - finds NaN and Infinity in coordinates and path data', () => {
  const root = parseXml('<svg><rect x="NaN" y="1"/><path d="M0 0 C1 2 Infinity 4 5 6"/><circle cx="2"/></svg>');
  const bad = new Set(numbersIn(root).filter((n) => !Number.isFinite(n.value)).map((n) => n.where.split(' at ')[0]));
  assert.deepEqual([...bad], ['<rect x>', '<path d>']);
});
