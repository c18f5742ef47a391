// The page of `mobikit serve`: the camera (or an image file) → mobikit's preprocessing → LiteRT.js → top-3
// labels, scores, inference time and FPS over the picture, and the crop the model sees. `window.mobikit` is the page's
// small API for scripts and tests (classify bytes, switch models, read the live loop's state).

import {centerCrop, exifOrientation, applyOrientation, inputTable, inputTensor, topClasses} from "./preprocess.js";
import {BrowserModel, startRuntime} from "./runtime.js";

const $ = (id) => document.getElementById(id);
const FPS_SMOOTHING = 0.9;
const state = {models: [], model: null, spec: null, mode: null, frames: 0, fps: null, last: null, stream: null,
               still: null};  // the picture of Image file mode, decoded upright

function status(text) {
  $("status").textContent = text;
}

function rgbOf(imageData) {
  const {width, height, data} = imageData;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    rgb[j] = data[i]; rgb[j + 1] = data[i + 1]; rgb[j + 2] = data[i + 2];
  }
  return {width, height, data: rgb};
}

let scratch = null;  // one canvas, re-used frame after frame

function pixelsOf(source, width, height) {
  if (!scratch || scratch.width !== width || scratch.height !== height) {
    scratch = new OffscreenCanvas(width, height);
  }
  const context = scratch.getContext("2d", {willReadFrequently: true});
  context.drawImage(source, 0, 0);
  return rgbOf(context.getImageData(0, 0, width, height));
}

function showCrop(crop, size) {
  const canvas = $("crop");
  canvas.width = canvas.height = size;
  const rgba = new ImageData(size, size);
  for (let i = 0, j = 0; j < crop.length; i += 4, j += 3) {
    rgba.data[i] = crop[j]; rgba.data[i + 1] = crop[j + 1]; rgba.data[i + 2] = crop[j + 2]; rgba.data[i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(rgba, 0, 0);
}

function showResult(result) {
  const list = $("top3");
  list.replaceChildren(...result.top.map(({label, score}) => {
    const item = document.createElement("li");
    item.textContent = `${label} ${score.toFixed(3)}`;
    return item;
  }));
  $("ms").textContent = result.ms.toFixed(2);
  $("fps").textContent = state.fps === null ? "–" : state.fps.toFixed(1);
  $("overlay").hidden = false;
}

// Inference and model swaps take turns, so a model is never deleted while a frame still runs on it.
let turn = Promise.resolve();

function inTurn(work) {
  const result = turn.then(work);
  turn = result.catch(() => {});
  return result;
}

/** Classify an upright RGB image with the chosen model. */
function classify(image) {
  return inTurn(() => classifyNow(image));
}

async function classifyNow(image) {
  const spec = state.spec;
  const crop = centerCrop(image, spec.resolution);
  const input = inputTensor(crop, state.table);
  const {values, ms} = await state.model.run(input);
  const top = topClasses(values, spec.output, 3).map(({index, score}) => ({index, score, label: spec.labels[index]}));
  showCrop(crop, spec.resolution);
  state.last = {top, ms, model: spec.name};
  return {top, ms, crop, input, values};
}

// A 16×8 JPEG tagged EXIF orientation 6 ("turn 90° clockwise"): decoded 8×16 when the browser turns pictures
// upright itself (today's browsers, the `from-image` default), 16×8 when it does not.
const ORIENTATION_PROBE = "/9j/4AAQSkZJRgABAQAAAQABAAD/4QAiRXhpZgAATU0AKgAAAAgAAQESAAMAAAABAAYAAAAAAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDHooorhPqD/9k=";
let browserTurnsPictures = null;

async function probeOrientation() {
  const bytes = Uint8Array.from(atob(ORIENTATION_PROBE), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: "image/jpeg"}), {imageOrientation: "from-image"});
  browserTurnsPictures = bitmap.width === 8;
  bitmap.close();
}

/** Decode image file bytes like mobikit does: the stored pixels without colour conversion (byte for byte what
 * OpenCV decodes), turned upright by the EXIF rule: by the browser when it does that (a lossless turn), else here. */
async function decode(bytes, type) {
  const bitmap = await createImageBitmap(new Blob([bytes], {type}),
                                         {colorSpaceConversion: "none", imageOrientation: "from-image"});
  const pixels = pixelsOf(bitmap, bitmap.width, bitmap.height);
  bitmap.close();
  return browserTurnsPictures ? pixels : applyOrientation(pixels, exifOrientation(bytes));
}

function drawStill(image) {
  const canvas = $("still");
  canvas.width = image.width;
  canvas.height = image.height;
  const rgba = new ImageData(image.width, image.height);
  for (let i = 0, j = 0; j < image.data.length; i += 4, j += 3) {
    rgba.data[i] = image.data[j]; rgba.data[i + 1] = image.data[j + 1]; rgba.data[i + 2] = image.data[j + 2];
    rgba.data[i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(rgba, 0, 0);
}

async function classifyBytes(bytes, type = "image/jpeg") {
  const image = await decode(bytes, type);
  const result = await classify(image);
  state.still = image;
  drawStill(image);
  showResult(result);
  return result;
}

/** After a model swap nothing of the previous model stays on screen: the file mode's picture is classified again
 * by the new model; otherwise the overlay waits for the next camera frame. */
async function refreshResult() {
  state.last = null;
  $("top3").replaceChildren();
  $("overlay").hidden = true;
  if (state.mode === "file" && state.still) showResult(await classify(state.still));
}

async function selectModel(index) {
  const spec = state.models[index];
  status(`loading ${spec.name} …`);
  const bytes = new Uint8Array(await (await fetch(spec.model_url)).arrayBuffer());
  let model;
  try {
    model = await BrowserModel.load(bytes, spec.input, spec.output);
  } catch (error) {
    status(`LiteRT.js cannot run ${spec.name}: ${error.message || error}`);
    throw error;
  }
  await model.run(new (spec.input.dtype === "float32" ? Float32Array : spec.input.dtype === "int8" ? Int8Array
                                                                                        : Uint8Array)(
    spec.resolution * spec.resolution * 3));  // the first run allocates: keep it out of the shown time
  await inTurn(() => {
    if (state.model) state.model.delete();
    state.model = model;
    state.spec = spec;
    state.table = inputTable(spec.preprocessing, spec.input);
  });
  $("model").value = String(index);
  $("model-info").textContent = `${spec.name}: ${spec.input.dtype} input ${spec.resolution}×${spec.resolution}, ` +
    `${spec.labels.length} classes, WebAssembly (CPU)`;
  await refreshResult();
  status("");
}

// --- modes -------------------------------------------------------------------------------------------------

function setMode(mode) {
  state.mode = mode;
  $("mode-camera").classList.toggle("active", mode === "camera");
  $("mode-file").classList.toggle("active", mode === "file");
  $("video").hidden = mode !== "camera";
  $("still").hidden = mode !== "file";
  $("file").hidden = mode !== "file";
}

async function startCamera() {
  setMode("camera");
  if (!window.isSecureContext || !navigator.mediaDevices) {
    status("the camera needs a secure context: open the page as http://localhost:PORT (on a phone: " +
           "mobikit serve --device), or use Image file mode");
    return;
  }
  try {
    state.stream = state.stream || await navigator.mediaDevices.getUserMedia(
      {video: {facingMode: {ideal: "environment"}, width: {ideal: 640}, height: {ideal: 480}}, audio: false});
  } catch (error) {
    status(`no camera: ${error.message || error.name} (Image file mode still works)`);
    return;
  }
  const video = $("video");
  video.srcObject = state.stream;
  await video.play();
  status("");
  loop();
}

function stopCamera() {
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  $("video").srcObject = null;
}

async function loop() {
  const video = $("video");
  let previous = performance.now();
  while (state.mode === "camera" && state.stream) {
    if (video.readyState >= 2 && video.videoWidth && state.model) {
      const result = await classify(pixelsOf(video, video.videoWidth, video.videoHeight));
      const now = performance.now();
      const instant = 1000 / Math.max(1, now - previous);
      previous = now;
      state.fps = state.fps === null ? instant : FPS_SMOOTHING * state.fps + (1 - FPS_SMOOTHING) * instant;
      state.frames += 1;
      document.body.dataset.frames = String(state.frames);
      showResult(result);
    }
    await nextFrame(video);
  }
}

// The next new camera frame (requestVideoFrameCallback), so a frame is classified once and the FPS is the camera
// frames the page keeps up with; the next display frame where a browser lacks it.
function nextFrame(video) {
  return new Promise((resolve) => ("requestVideoFrameCallback" in video
    ? video.requestVideoFrameCallback(() => resolve()) : requestAnimationFrame(() => resolve())));
}

// --- start -------------------------------------------------------------------------------------------------

async function start() {
  const served = await (await fetch("/api/models")).json();
  state.models = served.models;
  await Promise.all([startRuntime(served.runtime.wasm_script), probeOrientation()]);
  $("model").replaceChildren(...served.models.map((spec, index) => new Option(spec.name, String(index))));
  $("model").addEventListener("change", (event) => selectModel(Number(event.target.value)));
  $("mode-camera").addEventListener("click", () => startCamera());
  $("mode-file").addEventListener("click", () => { stopCamera(); setMode("file"); $("file").click(); });
  $("file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    state.fps = null;
    try {
      await classifyBytes(new Uint8Array(await file.arrayBuffer()), file.type);
      status("");
    } catch (error) {
      status(`cannot read ${file.name}: ${error.message || error}`);
    }
  });
  await selectModel(0);
  const wanted = new URLSearchParams(location.search).get("mode");
  if (wanted === "file") setMode("file");
  else await startCamera();
}

const ready = start().catch((error) => {
  status(`error: ${error.message || error}`);
  throw error;
});

function base64(array) {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

window.mobikit = {
  ready,
  state,
  selectModel,
  /** Classify encoded image bytes (an array of numbers or a base64 string): top-3, inference ms, and as base64
   * the crop, the input tensor and the output tensor. */
  async classify(data, type = "image/jpeg") {
    await ready;
    const bytes = typeof data === "string" ? Uint8Array.from(atob(data), (c) => c.charCodeAt(0))
                                           : Uint8Array.from(data);
    const {top, ms, crop, input, values} = await classifyBytes(bytes, type);
    return {top, ms, model: state.spec.name, crop: base64(crop), input: base64(input), output: base64(values)};
  },
};
