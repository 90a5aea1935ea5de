// face-api.js doing what mien does, for `make bench-coldstart`: load the library and its
// models as soon as the page opens, then for a chosen photo find the faces (tiny face
// detector, input 416, score 0.5: the library's defaults) and each face's expressions,
// and show them. The DOM mirrors mien's (`.photo[data-state][data-faces]`,
// `.face[data-fractions]`) so one condition ends both timings.
//
// Query: ?backend=NAME forces a TensorFlow.js backend (default: the library's choice).

import * as faceapi from '/face-api/face-api.esm.js';

const MODELS = '/face-api-model';
const engine = document.getElementById('engine');
const params = new URLSearchParams(location.search);

const ready = (async () => {
  if (params.get('backend')) await faceapi.tf.setBackend(params.get('backend'));
  await faceapi.tf.ready();
  await Promise.all([faceapi.nets.tinyFaceDetector.loadFromUri(MODELS), faceapi.nets.faceExpressionNet.loadFromUri(MODELS)]);
  const backend = faceapi.tf.getBackend();
  engine.dataset.state = 'ready';
  engine.dataset.engine = backend;
  engine.textContent = `Models ready on TensorFlow.js ${faceapi.tf.version_core} backend ${backend}.`;
  return backend;
})();
ready.catch((error) => {
  engine.dataset.state = 'failed';
  engine.textContent = `face-api.js could not start: ${error}`;
  console.error(error);
});

const input = document.getElementById('photo-input');
input.addEventListener('change', () => read(input.files[0]));
// A photo chosen before this module ran (the input is in the page's HTML, the module
// loads after it): its change event fired with no listener, so read it now.
if (input.files.length) read(input.files[0]);

async function read(file) {
  if (!file) return;
  const article = document.createElement('article');
  article.className = 'photo';
  article.dataset.state = 'working';
  article.dataset.file = file.name;
  document.getElementById('results').append(article);
  try {
    const bitmap = await createImageBitmap(file);
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    article.dataset.engine = await ready;
    const t = performance.now();
    const faces = await faceapi.detectAllFaces(canvas, new faceapi.TinyFaceDetectorOptions()).withFaceExpressions();
    article.dataset.ms = (performance.now() - t).toFixed(1);
    const list = document.createElement('ol');
    for (const [i, face] of faces.entries()) {
      const item = document.createElement('li');
      item.className = 'face';
      item.dataset.face = String(i + 1);
      const labels = Object.keys(face.expressions);
      item.dataset.labels = labels.join(',');
      item.dataset.fractions = labels.map((l) => face.expressions[l].toFixed(4)).join(',');
      const box = face.detection.box;
      item.dataset.box = [box.x, box.y, box.width, box.height].map((v) => v.toFixed(0)).join(',');
      item.textContent = `Face ${i + 1}: ` + labels.map((l) => `${l} ${(face.expressions[l] * 100).toFixed(1)}%`).join(', ');
      list.append(item);
    }
    article.append(list);
    article.dataset.faces = String(faces.length);
    article.dataset.state = faces.length ? 'done' : 'no-face';
  } catch (error) {
    article.dataset.state = 'error';
    article.textContent = String(error);
    console.error(error);
  }
}
