// Runs @vladmandic/face-api's FaceRecognitionNet (dlib ResNet) on fixed 150x150 RGB inputs with the
// pure-JS tfjs CPU backend and writes the 128-d descriptors as raw little-endian float32.
// Driven by record.py (see README.md); run by hand, once - never part of the test suite.
//
// usage: node record.mjs INPUTS_U8 COUNT WEIGHTS_F32 MODEL_DIR OUT_F32_WEIGHTS OUT_U8_MODEL OUT_INFO_JSON
//   INPUTS_U8        COUNT x 150 x 150 x 3 uint8 pixels (HWC, RGB), back to back
//   WEIGHTS_F32      face-api.js 0.10.0 weights_uncompressed/face_recognition_model.weights (raw float32)
//   MODEL_DIR        @vladmandic/face-api's model/ folder (uint8-quantised face_recognition_model)
//   OUT_F32_WEIGHTS  COUNT x 128 float32: the net loaded with the raw float32 weights (the reference)
//   OUT_U8_MODEL     COUNT x 128 float32: the net loaded with the package's own quantised model
//   OUT_INFO_JSON    versions and backend actually used
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// face-api.node-wasm.js is the Node build that needs no native tfjs-node: it loads @tensorflow/tfjs
// (which registers the pure-JS 'cpu' backend) and @tensorflow/tfjs-backend-wasm (unused here).
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const SIZE = 150;
const [inputsPath, countArg, weightsPath, modelDir, outF32, outU8, outInfo] = process.argv.slice(2);
if (!outInfo) {
  console.error('usage: node record.mjs INPUTS_U8 COUNT WEIGHTS_F32 MODEL_DIR OUT_F32_WEIGHTS OUT_U8_MODEL OUT_INFO_JSON');
  process.exit(2);
}
const count = Number(countArg);
const { tf } = faceapi;

await tf.setBackend('cpu');
await tf.ready();
if (tf.getBackend() !== 'cpu') throw new Error(`backend is ${tf.getBackend()}, wanted cpu`);

const pixels = readFileSync(inputsPath);
if (pixels.length !== count * SIZE * SIZE * 3) throw new Error(`inputs: ${pixels.length} bytes, expected ${count} images`);

const raw = readFileSync(weightsPath);
const weights = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const netF32 = new faceapi.FaceRecognitionNet();
netF32.extractWeights(weights);

const netU8 = new faceapi.FaceRecognitionNet();
await netU8.loadFromDisk(modelDir);

async function describe(net) {
  const out = new Float32Array(count * 128);
  for (let i = 0; i < count; i += 1) {
    const img = Float32Array.from(pixels.subarray(i * SIZE * SIZE * 3, (i + 1) * SIZE * SIZE * 3));
    // a 150x150 tensor is used as is: toBatchTensor neither pads nor resizes it; forwardInput then
    // does (x - [122.782, 117.001, 104.298]) / 255 itself
    const input = tf.tensor4d(img, [1, SIZE, SIZE, 3], 'float32');
    const descriptor = await net.computeFaceDescriptor(input);
    input.dispose();
    out.set(descriptor, i * 128);
  }
  return out;
}

const f32 = await describe(netF32);
const u8 = await describe(netU8);
writeFileSync(outF32, Buffer.from(f32.buffer));
writeFileSync(outU8, Buffer.from(u8.buffer));
writeFileSync(outInfo, JSON.stringify({
  node: process.version,
  face_api: faceapi.version,
  tfjs: tf.version,
  backend: tf.getBackend(),
  face_api_build: 'dist/face-api.node-wasm.js',
}, null, 2));
console.log(`wrote ${count} descriptors per net, backend ${tf.getBackend()}`);
