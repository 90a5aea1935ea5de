// Starts the CPU inference worker (src/bin/cpu-worker.rs), which trunk builds as
// cpu-worker.js + cpu-worker_bg.wasm (worker files keep their names: no hash).
// A start-up failure is reported like any other worker error (docs/worker-protocol.md).
importScripts('./cpu-worker.js');

wasm_bindgen({ module_or_path: './cpu-worker_bg.wasm' }).catch((error) => {
  self.postMessage({ kind: 'error', id: null, message: `the CPU engine could not start: ${error}` });
});
