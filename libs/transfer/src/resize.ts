/**
 * Resampling of 8-bit interleaved images, separable per axis: area averaging
 * when an axis shrinks (every source pixel counts with its overlap, like
 * OpenCV's INTER_AREA and tf.image's 'area'), bilinear with half-pixel
 * centres when it grows (tf.image.resize 'bilinear', align_corners false).
 */

/** How a non-square image becomes square. */
export type CropMode = 'center' | 'stretch';

/** Source taps of one output pixel along one axis. */
interface Taps { index: Int32Array; weight: Float32Array }

function axisTaps(inSize: number, outSize: number): Taps[] {
  const taps: Taps[] = [];
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    if (outSize < inSize) {
      // Area: output o covers [o * scale, (o + 1) * scale) of the source.
      const a = o * scale;
      const b = a + scale;
      const first = Math.floor(a);
      const last = Math.min(inSize - 1, Math.ceil(b) - 1);
      const index = new Int32Array(last - first + 1);
      const weight = new Float32Array(last - first + 1);
      for (let i = first; i <= last; i++) {
        index[i - first] = i;
        weight[i - first] = (Math.min(b, i + 1) - Math.max(a, i)) / scale;
      }
      taps.push({ index, weight });
    } else {
      const x = Math.min(inSize - 1, Math.max(0, (o + 0.5) * scale - 0.5));
      const i0 = Math.floor(x);
      const i1 = Math.min(inSize - 1, i0 + 1);
      const f = x - i0;
      taps.push({ index: Int32Array.of(i0, i1), weight: Float32Array.of(1 - f, f) });
    }
  }
  return taps;
}

/**
 * Resizes an interleaved `height` x `width` x `channels` byte image to
 * `size` x `size`. `center` first takes the largest centred square (keeps
 * the aspect ratio, as ImageNet evaluation crops do); `stretch` resamples
 * the whole image.
 */
export function resizeImage(
  src: Uint8Array, height: number, width: number, channels: number, size: number, crop: CropMode = 'center',
): Uint8Array {
  let y0 = 0, x0 = 0, h = height, w = width;
  if (crop === 'center' && height !== width) {
    const side = Math.min(height, width);
    y0 = Math.floor((height - side) / 2);
    x0 = Math.floor((width - side) / 2);
    h = w = side;
  }
  const out = new Uint8Array(size * size * channels);
  if (h === size && w === size) {
    for (let y = 0; y < size; y++) {
      const from = ((y0 + y) * width + x0) * channels;
      out.set(src.subarray(from, from + size * channels), y * size * channels);
    }
    return out;
  }
  const cols = axisTaps(w, size);
  const rows = axisTaps(h, size);
  // Horizontal pass over the rows of the crop, into float.
  const tmp = new Float32Array(h * size * channels);
  for (let y = 0; y < h; y++) {
    const rowBase = ((y0 + y) * width + x0) * channels;
    for (let ox = 0; ox < size; ox++) {
      const { index, weight } = cols[ox]!;
      const o = (y * size + ox) * channels;
      for (let t = 0; t < index.length; t++) {
        const s = rowBase + index[t]! * channels;
        const wt = weight[t]!;
        for (let c = 0; c < channels; c++) tmp[o + c]! += wt * src[s + c]!;
      }
    }
  }
  // Vertical pass, rounded and clamped to bytes.
  const acc = new Float32Array(channels);
  for (let oy = 0; oy < size; oy++) {
    const { index, weight } = rows[oy]!;
    for (let ox = 0; ox < size; ox++) {
      acc.fill(0);
      for (let t = 0; t < index.length; t++) {
        const s = (index[t]! * size + ox) * channels;
        const wt = weight[t]!;
        for (let c = 0; c < channels; c++) acc[c]! += wt * tmp[s + c]!;
      }
      const o = (oy * size + ox) * channels;
      for (let c = 0; c < channels; c++) out[o + c] = Math.min(255, Math.max(0, Math.round(acc[c]!)));
    }
  }
  return out;
}
