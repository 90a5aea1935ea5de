// Test inputs made on the fly, so no binary fixture is committed: a small ONNX
// model and a small PNG.

import { deflateSync } from 'node:zlib';

// --- ONNX: protobuf by hand (field numbers from onnx.proto) ---

function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const int = (field, value) => [...varint(field * 8), ...varint(value)];
const bytes = (field, data) => [...varint(field * 8 + 2), ...varint(data.length), ...data];
const str = (field, text) => bytes(field, [...new TextEncoder().encode(text)]);
const msg = (field, ...parts) => bytes(field, parts.flat());

// ValueInfoProto { name, type: TypeProto { tensor_type { elem_type: FLOAT, shape } } }
const floatValue = (field, name, dims) =>
  msg(field, str(1, name), msg(2, msg(1, int(1, 1), msg(2, ...dims.map((d) => msg(1, int(1, d)))))));
const node = (op, inputs, output) =>
  msg(1, ...inputs.map((i) => str(1, i)), str(2, output), str(3, `${op}_${output}`), str(4, op));

/**
 * A model with inputs a, b [2, 3] and outputs y = a - b, z = a + b (in that order),
 * so a test can see that inputs are matched by name and outputs returned as asked.
 */
export function tinyOnnx() {
  return Uint8Array.from([
    ...int(1, 7), // ir_version
    ...msg(8, int(2, 13)), // opset_import { version: 13 }
    ...msg(
      7, // graph
      node('Sub', ['a', 'b'], 'y'),
      node('Add', ['a', 'b'], 'z'),
      str(2, 'tiny'),
      floatValue(11, 'a', [2, 3]),
      floatValue(11, 'b', [2, 3]),
      floatValue(12, 'y', [2, 3]),
      floatValue(12, 'z', [2, 3]),
    ),
  ]);
}

// --- PNG: 8-bit RGB, one filter byte per row ---

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A width x height gradient as PNG bytes. */
export function png(width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter, no interlace
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * (width * 3 + 1) + 1 + x * 3;
      rows.set([(x * 255) / width, (y * 255) / height, 128], at);
    }
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// --- Files the app must refuse with a sentence (each made here, a few bytes) ---

/** A PNG whose header claims `width` x `height` pixels, with no pixel data. */
export function pngHeaderOnly(width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The bad inputs of the app's promise: each with the words its message must contain.
 * A HEIC file is recognised by its `ftyp` box, so its first bytes suffice.
 */
export function badInputs() {
  const corrupt = png(64, 64);
  return [
    { name: 'corrupt.png', mimeType: 'image/png', buffer: corrupt.subarray(0, corrupt.length - 40), words: 'damaged' },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo at all'), words: 'not an image' },
    {
      name: 'holiday.heic',
      mimeType: 'image/heic',
      buffer: Buffer.concat([Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(64)]),
      words: 'HEIC',
    },
    { name: 'dot.png', mimeType: 'image/png', buffer: png(1, 1), words: 'too small' },
    { name: 'huge.png', mimeType: 'image/png', buffer: pngHeaderOnly(20000, 20000), words: 'too large' },
  ];
}
