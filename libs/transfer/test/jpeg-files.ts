// Writes small JPEG image folders for the tests, with jpeg-js's encoder.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';

/** A solid-colour RGB JPEG (solid colours survive JPEG within a few levels). */
export function solidJpeg(width: number, height: number, rgb: readonly [number, number, number]): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  return jpeg.encode({ width, height, data }, 95).data;
}

/** Colour of class k: far apart per channel so labels can be told from pixels. */
export function classColour(k: number): [number, number, number] {
  return [(40 + 70 * k) % 256, (220 - 60 * k + 256) % 256, (100 + 50 * k) % 256];
}

export interface FolderSpec {
  /** Class name -> number of images. */
  classes: Record<string, number>;
  /** Sub-folder to write into (e.g. 'train' or 'val'); '' = the root. */
  sub?: string;
}

/** A temporary folder; `write` adds class folders of solid-colour JPEGs of varied sizes. */
export function tempImageFolder(): { root: string; write: (spec: FolderSpec) => void; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'nasnet-images-'));
  return {
    root,
    write: ({ classes, sub = '' }) => {
      Object.entries(classes).forEach(([name, count]) => {
        const k = Object.keys(classes).sort().indexOf(name);
        const dir = join(root, sub, name);
        mkdirSync(dir, { recursive: true });
        for (let i = 0; i < count; i++) {
          // Mixed sizes and aspect ratios: area-downscaled, upscaled and cropped.
          const [w, h] = [[40, 30], [12, 20], [64, 64], [9, 9]][i % 4]!;
          // Each image of a class a little brighter than the one before (up to +3), so images differ.
          const rgb = classColour(k).map((v) => Math.min(255, v + (i % 4))) as [number, number, number];
          writeFileSync(join(dir, `img${String(i).padStart(3, '0')}.${i % 2 ? 'JPG' : 'jpeg'}`), solidJpeg(w, h, rgb));
        }
      });
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
