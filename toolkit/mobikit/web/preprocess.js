// The one preprocessing rule of mobikit (toolkit/mobikit/preprocess.py), ported to JavaScript for the browser page
// and cross-checked byte for byte against the Python rule (tests/test_serve_preprocess.py): turn the picture upright
// (EXIF orientation), resize so the shorter side is R / 0.875 with OpenCV's INTER_AREA, centre-crop R×R, then
// write each pixel through the model's 256-entry input table (mobikit.input_grid: the mean and std model.json
// records, the input tensor's scale and zero point).
// The resize is OpenCV's own arithmetic (float32 area weights when shrinking, 11-bit fixed-point bilinear weights
// when enlarging), because canvas smoothing differs by ~1.3 grey levels per pixel and flips borderline photos.

export const CROP_FRACTION = 0.875;

const f32 = Math.fround;

function roundHalfUp(value) {
  return Math.floor(value + 0.5);
}

// cvRound: round half to even, like lrint in the default rounding mode.
function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function saturate(value) {
  const rounded = roundHalfEven(value);
  return rounded < 0 ? 0 : rounded > 255 ? 255 : rounded;
}

/** Where the centre crop lies after resizing the shorter side to resolution / CROP_FRACTION (crop_geometry). */
export function cropGeometry(width, height, resolution) {
  const shortTarget = Math.max(resolution, roundHalfUp(resolution / CROP_FRACTION));
  let resizedWidth, resizedHeight;
  if (width <= height) {
    resizedWidth = shortTarget;
    resizedHeight = Math.max(shortTarget, roundHalfUp(height * shortTarget / width));
  } else {
    resizedWidth = Math.max(shortTarget, roundHalfUp(width * shortTarget / height));
    resizedHeight = shortTarget;
  }
  return {resizedWidth, resizedHeight, left: Math.floor((resizedWidth - resolution) / 2),
          top: Math.floor((resizedHeight - resolution) / 2), size: resolution};
}

// EXIF orientation tag → [mirror left-right first, then rotate clockwise by degrees] (preprocess.ORIENTATIONS).
export const ORIENTATIONS = {1: [false, 0], 2: [true, 0], 3: [false, 180], 4: [true, 180],
                             5: [true, 270], 6: [false, 90], 7: [true, 90], 8: [false, 270]};

/** An RGB image {width, height, data: Uint8Array (RGB, row-major)} turned upright for an EXIF orientation tag. */
export function applyOrientation(image, orientation) {
  const [mirror, degrees] = ORIENTATIONS[orientation] || [false, 0];
  if (!mirror && degrees === 0) return image;
  const {width, height, data} = image;
  const turned = degrees === 90 || degrees === 270;
  const outWidth = turned ? height : width, outHeight = turned ? width : height;
  const out = new Uint8Array(outWidth * outHeight * 3);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      // where the output pixel comes from in the mirrored image, then undo the mirror
      let sx, sy;
      if (degrees === 0) { sx = x; sy = y; }
      else if (degrees === 90) { sx = y; sy = height - 1 - x; }
      else if (degrees === 180) { sx = width - 1 - x; sy = height - 1 - y; }
      else { sx = width - 1 - y; sy = x; }
      if (mirror) sx = width - 1 - sx;
      const from = (sy * width + sx) * 3, to = (y * outWidth + x) * 3;
      out[to] = data[from]; out[to + 1] = data[from + 1]; out[to + 2] = data[from + 2];
    }
  }
  return {width: outWidth, height: outHeight, data: out};
}

/** The EXIF orientation tag (1–8) of a JPEG file's bytes; 1 when it has none. */
export function exifOrientation(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0xFFD8) return 1;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    const marker = view.getUint16(offset);
    const length = view.getUint16(offset + 2);
    if ((marker & 0xFF00) !== 0xFF00 || marker === 0xFFDA) return 1;
    if (marker === 0xFFE1 && offset + 10 <= bytes.length && view.getUint32(offset + 4) === 0x45786966) {
      return tiffOrientation(view, offset + 10, Math.min(bytes.length, offset + 2 + length));
    }
    offset += 2 + length;
  }
  return 1;
}

function tiffOrientation(view, start, end) {
  if (start + 8 > end) return 1;
  const little = view.getUint16(start) === 0x4949;
  const u16 = (at) => view.getUint16(at, little), u32 = (at) => view.getUint32(at, little);
  const ifd = start + u32(start + 4);
  if (ifd + 2 > end) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return 1;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

// --- OpenCV INTER_AREA -----------------------------------------------------------------------------------------

// computeResizeAreaTab: for each output cell, the source pixels it covers and their float32 weights.
function areaTable(sourceSize, targetSize, scale) {
  const table = [];
  for (let d = 0; d < targetSize; d++) {
    const fs1 = d * scale, fs2 = fs1 + scale;
    const cell = Math.min(scale, sourceSize - fs1);
    let s1 = Math.ceil(fs1), s2 = Math.floor(fs2);
    s2 = Math.min(s2, sourceSize - 1);
    s1 = Math.min(s1, s2);
    if (s1 - fs1 > 1e-3) table.push([d, s1 - 1, f32((s1 - fs1) / cell)]);
    for (let s = s1; s < s2; s++) table.push([d, s, f32(1.0 / cell)]);
    if (fs2 - s2 > 1e-3) table.push([d, s2, f32(Math.min(Math.min(fs2 - s2, 1.0), cell) / cell)]);
  }
  return table;
}

// ResizeArea_Invoker: rows weighted into float32 sums, in OpenCV's order, rounded half to even.
function resizeAreaShrink(src, width, height, outWidth, outHeight) {
  const xTable = areaTable(width, outWidth, 1 / (outWidth / width));
  const yTable = areaTable(height, outHeight, 1 / (outHeight / height));
  const rowLength = outWidth * 3;
  const out = new Uint8Array(outHeight * rowLength);
  const buf = new Float32Array(rowLength), sum = new Float32Array(rowLength);
  let previous = yTable[0][0];
  for (const [dy, sy, beta] of yTable) {
    buf.fill(0);
    const row = sy * width * 3;
    for (const [dx, sx, alpha] of xTable) {
      const to = dx * 3, from = row + sx * 3;
      buf[to] = f32(buf[to] + f32(src[from] * alpha));
      buf[to + 1] = f32(buf[to + 1] + f32(src[from + 1] * alpha));
      buf[to + 2] = f32(buf[to + 2] + f32(src[from + 2] * alpha));
    }
    if (dy !== previous) {
      const outRow = previous * rowLength;
      for (let i = 0; i < rowLength; i++) {
        out[outRow + i] = saturate(sum[i]);
        sum[i] = f32(beta * buf[i]);
      }
      previous = dy;
    } else {
      for (let i = 0; i < rowLength; i++) sum[i] = f32(sum[i] + f32(beta * buf[i]));
    }
  }
  const outRow = previous * rowLength;
  for (let i = 0; i < rowLength; i++) out[outRow + i] = saturate(sum[i]);
  return out;
}

// resizeAreaFast: whole-number scale factors average each block (float scale, round half to even), except 2×2,
// which OpenCV's SIMD path rounds half up.
function resizeAreaWhole(src, width, height, outWidth, outHeight, scaleX, scaleY) {
  const out = new Uint8Array(outWidth * outHeight * 3);
  const inverse = f32(1 / (scaleX * scaleY));
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < 3; c++) {
        let total = 0;
        for (let j = 0; j < scaleY; j++) {
          for (let i = 0; i < scaleX; i++) total += src[((y * scaleY + j) * width + x * scaleX + i) * 3 + c];
        }
        out[(y * outWidth + x) * 3 + c] = scaleX === 2 && scaleY === 2 ? (total + 2) >> 2
          : saturate(f32(total * inverse));
      }
    }
  }
  return out;
}

const COEF_BITS = 11, COEF_SCALE = 1 << COEF_BITS;

// INTER_AREA when enlarging: OpenCV's bilinear resize with "area" coefficients, in 11-bit fixed point.
function linearTable(sourceSize, targetSize) {
  const scale = 1 / (targetSize / sourceSize), inverse = targetSize / sourceSize;
  const offsets = new Int32Array(targetSize), weights = new Int32Array(targetSize * 2);
  for (let d = 0; d < targetSize; d++) {
    let s = Math.floor(d * scale);
    let f = f32((d + 1) - (s + 1) * inverse);
    f = f <= 0 ? 0 : f32(f - Math.floor(f));
    if (s < 0) { f = 0; s = 0; }
    if (s >= sourceSize - 1) { f = 0; s = sourceSize - 1; }
    offsets[d] = s;
    weights[2 * d] = saturateShort(f32(1 - f) * COEF_SCALE);
    weights[2 * d + 1] = saturateShort(f32(f * COEF_SCALE));
  }
  return {offsets, weights};
}

function saturateShort(value) {
  return Math.max(-32768, Math.min(32767, roundHalfEven(value)));
}

function resizeLinearEnlarge(src, width, height, outWidth, outHeight) {
  const xs = linearTable(width, outWidth), ys = linearTable(height, outHeight);
  const rowLength = outWidth * 3;
  const horizontal = (sy) => {
    const row = new Int32Array(rowLength), base = sy * width * 3;
    for (let dx = 0; dx < outWidth; dx++) {
      const sx = xs.offsets[dx], a0 = xs.weights[2 * dx], a1 = xs.weights[2 * dx + 1];
      const next = Math.min(sx + 1, width - 1);
      for (let c = 0; c < 3; c++) {
        row[dx * 3 + c] = src[base + sx * 3 + c] * a0 + src[base + next * 3 + c] * a1;
      }
    }
    return row;
  };
  const out = new Uint8Array(outHeight * rowLength);
  for (let dy = 0; dy < outHeight; dy++) {
    const sy = ys.offsets[dy], b0 = ys.weights[2 * dy], b1 = ys.weights[2 * dy + 1];
    const r0 = horizontal(sy), r1 = horizontal(Math.min(sy + 1, height - 1));
    for (let i = 0; i < rowLength; i++) {
      // OpenCV's vectorised vertical pass: (b·(S >> 4)) >> 16 per row, then a rounding shift by 2
      const value = (((b0 * (r0[i] >> 4)) >> 16) + ((b1 * (r1[i] >> 4)) >> 16) + 2) >> 2;
      out[dy * rowLength + i] = value < 0 ? 0 : value > 255 ? 255 : value;
    }
  }
  return out;
}

/** cv2.resize(image, (outWidth, outHeight), interpolation=cv2.INTER_AREA) for an RGB uint8 image. */
export function resizeArea(image, outWidth, outHeight) {
  const {width, height, data} = image;
  if (outWidth === width && outHeight === height) return data.slice();
  const scaleX = width / outWidth, scaleY = height / outHeight;
  if (scaleX >= 1 && scaleY >= 1) {
    if (Number.isInteger(scaleX) && Number.isInteger(scaleY)) {
      return resizeAreaWhole(data, width, height, outWidth, outHeight, scaleX, scaleY);
    }
    return resizeAreaShrink(data, width, height, outWidth, outHeight);
  }
  return resizeLinearEnlarge(data, width, height, outWidth, outHeight);
}

/** The R×R×3 uint8 crop the model sees (preprocess.center_crop). */
export function centerCrop(image, resolution) {
  const g = cropGeometry(image.width, image.height, resolution);
  const resized = resizeArea(image, g.resizedWidth, g.resizedHeight);
  const out = new Uint8Array(resolution * resolution * 3);
  for (let y = 0; y < resolution; y++) {
    const from = ((g.top + y) * g.resizedWidth + g.left) * 3;
    out.set(resized.subarray(from, from + resolution * 3), y * resolution * 3);
  }
  return out;
}

const TYPES = {int8: [Int8Array, -128, 127], uint8: [Uint8Array, 0, 255], float32: [Float32Array]};

/** The 256 values a pixel 0..255 is written as (mobikit.input_grid.input_table): real = (p − mean) / std with the
 * mean and std model.json records, then q = round-half-even(real / scale) + zero point, clamped, all in float64;
 * the real value itself (as float32) for a float input. `input` is model.json's input spec. */
export function inputTable(preprocessing, input) {
  const [Type, low, high] = TYPES[input.dtype];
  const table = new Type(256);
  for (let p = 0; p < 256; p++) {
    const real = (p - preprocessing.mean) / preprocessing.std;
    if (input.dtype === "float32" || input.scale === 0) {
      table[p] = real;
    } else {
      const q = roundHalfEven(real / input.scale) + input.zero_point;
      table[p] = q < low ? low : q > high ? high : q;
    }
  }
  return table;
}

/** Crop pixels → the model's input tensor, each pixel looked up in the input table. */
export function inputTensor(pixels, table) {
  const out = new table.constructor(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = table[pixels[i]];
  return out;
}

/** Dequantized scores and the k best classes (ties to the lower index, like mobikit.metrics.top_classes). */
export function topClasses(values, output, k) {
  const scores = Array.from(values, (v) => (output.scale ? (v - output.zero_point) * output.scale : v));
  const order = scores.map((_, i) => i).sort((a, b) => (values[b] - values[a]) || (a - b));
  return order.slice(0, k).map((index) => ({index, score: scores[index]}));
}
