// Test photos made at test time, never stored: FER2013 faces (read from the dataset
// tarball, which is research-use only: nothing read or made from it is written to disk)
// composed into larger scenes by the browser's own canvas, as PNG bytes.
//
// The scenes follow tests/face_detection.rs, where BlazeFace (Back) finds these faces
// at these sizes, here scaled up to photo-like sizes.

import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createGunzip } from 'node:zlib';

/** CI keeps the dataset beside the repository: ../shared/data. */
export const FER_TARBALL = resolve(process.env.MIEN_FER_TARBALL ?? '../shared/data/fer2013.tar.gz');

/** Clear, frontal, upright faces near the start of the archive (quick to reach): the
 * list the native tests and benchmarks use too. */
const FACES = readFileSync(new URL('../fer-faces.txt', import.meta.url), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
/** A face the shipped model reads as clearly happy (92%; tests/occlusion.rs). */
const HAPPY = 'train/happy/Training_10019449.jpg';

/** The named files' bytes from a .tar.gz, reading only as far as needed. */
async function fromTarball(path, names) {
  if (!existsSync(path)) throw new Error(`${path} is missing: the FER2013 tarball must sit in ../shared/data`);
  const found = new Map();
  const stream = createReadStream(path).pipe(createGunzip());
  let pending = Buffer.alloc(0);
  let entry = null;
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (!entry) {
        if (pending.length < 512) break;
        const header = pending.subarray(0, 512);
        pending = pending.subarray(512);
        const field = (start, end) => header.subarray(start, end).toString('latin1').replace(/\0.*$/s, '');
        const name = [field(345, 500), field(0, 100)].filter(Boolean).join('/');
        const size = parseInt(field(124, 136).trim() || '0', 8);
        entry = { name, size, padded: Math.ceil(size / 512) * 512 };
      } else {
        if (pending.length < entry.padded) break;
        if (names.includes(entry.name)) found.set(entry.name, Buffer.from(pending.subarray(0, entry.size)));
        pending = pending.subarray(entry.padded);
        entry = null;
        if (found.size === names.length) {
          stream.destroy();
          return names.map((n) => found.get(n));
        }
      }
    }
  }
  throw new Error(`${names.filter((n) => !found.has(n)).join(', ')} not found in ${path}`);
}

/**
 * The test photos, as PNG bytes, composed in a blank page of `context`:
 * - `two`: 1280x840, two faces (340 and 300 px, the second turned by 12 degrees) on noise;
 * - `one`: 2400x1800 (larger than the app's 2048 working size), one 1020 px face;
 * - `fer`: one 48x48 FER2013 face as it is in the dataset (a pre-cropped face);
 * - `small`: 140x105, one 36 px face (smaller than the model's 48x48 input);
 * - `happy`: 640x480, one 300 px face the shipped model reads as clearly happy.
 */
export async function makeScenes(context) {
  const [happy, ...faces] = await fromTarball(FER_TARBALL, [HAPPY, ...FACES]);
  const page = await context.newPage();
  try {
    const made = await page.evaluate(async (encoded) => {
      const bitmaps = await Promise.all(
        encoded.map((b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          return createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
        }),
      );
      const toBase64 = async (blob) => {
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let text = '';
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(text);
      };
      // A plain colour with deterministic noise of +-noise per channel, then faces.
      const scene = (width, height, colour, noise, seed, placed) => {
        const canvas = new OffscreenCanvas(width, height);
        const ctx = canvas.getContext('2d');
        const image = ctx.createImageData(width, height);
        let state = seed >>> 0;
        const random = () => {
          state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
          return state / 2 ** 32;
        };
        for (let i = 0; i < width * height; i++) {
          for (let c = 0; c < 3; c++) image.data[i * 4 + c] = colour[c] + Math.round((random() * 2 - 1) * noise);
          image.data[i * 4 + 3] = 255;
        }
        ctx.putImageData(image, 0, 0);
        ctx.imageSmoothingQuality = 'high';
        for (const p of placed) {
          ctx.save();
          ctx.translate(p.x, p.y);
          ctx.rotate((p.degrees * Math.PI) / 180);
          ctx.drawImage(bitmaps[p.face], -p.side / 2, -p.side / 2, p.side, p.side);
          ctx.restore();
        }
        return canvas.convertToBlob({ type: 'image/png' }).then(toBase64);
      };
      return {
        two: await scene(1280, 840, [90, 120, 150], 25, 1, [
          { face: 0, x: 1280 * 0.27, y: 840 * 0.45, side: 340, degrees: 0 },
          { face: 1, x: 1280 * 0.73, y: 840 * 0.55, side: 300, degrees: 12 },
        ]),
        one: await scene(2400, 1800, [200, 200, 200], 0, 2, [
          { face: 2, x: 2400 * 0.55, y: 1800 * 0.48, side: 1020, degrees: 0 },
        ]),
        small: await scene(140, 105, [90, 120, 150], 10, 3, [{ face: 0, x: 70, y: 52, side: 36, degrees: 0 }]),
        happy: await scene(640, 480, [90, 120, 150], 25, 4, [{ face: bitmaps.length - 1, x: 320, y: 240, side: 300, degrees: 0 }]),
      };
    }, [...faces, happy].map((f) => f.toString('base64')));
    return {
      two: Buffer.from(made.two, 'base64'),
      one: Buffer.from(made.one, 'base64'),
      small: Buffer.from(made.small, 'base64'),
      fer: faces[2],
      happy: Buffer.from(made.happy, 'base64'),
    };
  } finally {
    await page.close();
  }
}

/** A surprised and a neutral face the shipped model reads clearly (96% and 95% read
 * alone through `mien-analyse`). */
const SURPRISE = 'train/surprise/Training_10243579.jpg';
const NEUTRAL = 'train/neutral/Training_10570800.jpg';

/**
 * Test videos, recorded by the browser itself (a canvas's stream into MediaRecorder, as
 * WebM/VP8: like every recorder's WebM, without a stored duration), as bytes:
 * - `faces`: `seconds` long, 640x360, noise with two faces drifting slowly right: on the
 *   left the happy face until `changeAt` seconds, then the surprised one; on the right
 *   the neutral face throughout;
 * - `blank`: 1.5 s of the same noise, no face.
 * The frames are drawn as the recording runs, so the change happens at `changeAt`
 * seconds of the video's own time (give or take a frame of 40 ms).
 */
export async function makeVideos(context, { seconds = 4, changeAt = 2 } = {}) {
  const faces = await fromTarball(FER_TARBALL, [HAPPY, SURPRISE, NEUTRAL]);
  const page = await context.newPage();
  try {
    const made = await page.evaluate(
      async ({ encoded, seconds, changeAt }) => {
        const [happy, surprise, neutral] = await Promise.all(
          encoded.map((b64) => createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/jpeg' }))),
        );
        const [width, height] = [640, 360];
        const noise = new ImageData(width, height);
        let state = 7;
        for (let i = 0; i < width * height; i++) {
          for (let c = 0; c < 3; c++) {
            state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
            noise.data[i * 4 + c] = [90, 120, 150][c] + Math.round(((state / 2 ** 32) * 2 - 1) * 20);
          }
          noise.data[i * 4 + 3] = 255;
        }
        const record = (length, draw) => {
          const canvas = document.createElement('canvas');
          [canvas.width, canvas.height] = [width, height];
          document.body.append(canvas);
          const ctx = canvas.getContext('2d');
          ctx.imageSmoothingQuality = 'high';
          const paint = (t) => {
            ctx.putImageData(noise, 0, 0);
            draw(ctx, t);
          };
          paint(0);
          const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: 'video/webm;codecs=vp8', videoBitsPerSecond: 2_000_000 });
          const chunks = [];
          recorder.ondataavailable = (event) => chunks.push(event.data);
          const stopped = new Promise((resolve) => (recorder.onstop = resolve));
          recorder.start();
          const started = performance.now();
          return new Promise((resolve) => {
            const tick = () => {
              const t = (performance.now() - started) / 1000;
              if (t >= length) {
                recorder.stop();
                stopped.then(async () => {
                  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
                  let text = '';
                  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
                  resolve(btoa(text));
                });
                return;
              }
              paint(t);
              setTimeout(tick, 20);
            };
            tick();
          });
        };
        const drift = (t) => (t / seconds) * 30;
        const [faces, blank] = await Promise.all([
          record(seconds, (ctx, t) => {
            ctx.drawImage(t < changeAt ? happy : surprise, 110 + drift(t), 95, 170, 170);
            ctx.drawImage(neutral, 380 + drift(t), 105, 160, 160);
          }),
          record(1.5, () => {}),
        ]);
        return { faces, blank };
      },
      { encoded: faces.map((f) => f.toString('base64')), seconds, changeAt },
    );
    return { faces: Buffer.from(made.faces, 'base64'), blank: Buffer.from(made.blank, 'base64'), seconds, changeAt };
  } finally {
    await page.close();
  }
}
