// Models on LiteRT.js's WebAssembly (XNNPACK) runtime, through its low-level bindings: the public
// `loadAndCompile`/`Tensor` API refuses int8 tensors ("Element type INT8 is not supported."), the bindings it is
// built on run int8, uint8 and float32 inputs and outputs alike. WebGPU is not used: mobikit's int8 graphs run on
// the CPU kernels, and the answers must equal the host's (same XNNPACK kernels, same input bytes).

import {getGlobalLiteRt, loadLiteRt} from "litert-core";

// LiteRT's element type codes (litert/c/litert_model.h): the three input/output types mobikit writes.
const ELEMENT_TYPES = {float32: {code: 1, array: Float32Array}, uint8: {code: 3, array: Uint8Array},
                       int8: {code: 9, array: Int8Array}};

export async function startRuntime(wasmScript) {
  await loadLiteRt(wasmScript);
  return getGlobalLiteRt();
}

export class BrowserModel {
  /** Load and compile model bytes for the CPU; `input`/`output` are model.json's tensor specs. */
  static async load(bytes, input, output) {
    const liteRt = getGlobalLiteRt();
    const wasm = liteRt.liteRtWasm, environment = liteRt.getDefaultEnvironment();
    const pointer = wasm._malloc(bytes.byteLength);
    wasm.HEAPU8.set(bytes, pointer);
    let model;
    try {
      model = wasm.loadModel(environment.liteRtEnvironment, pointer, bytes.byteLength);
      const options = {environment, accelerator: "wasm", cpuOptions: {numThreads: wasm.getThreadCount()},
                       gpuOptions: {}, webNNOptions: {}};
      const compiled = await wasm.compileModel(environment.liteRtEnvironment, model, options);
      return new BrowserModel(wasm, environment, model, compiled, pointer, input, output);
    } catch (error) {
      if (model) model.delete();
      wasm._free(pointer);
      throw error;
    }
  }

  constructor(wasm, environment, model, compiled, pointer, input, output) {
    Object.assign(this, {wasm, environment, model, compiled, pointer, input, output});
    const type = model.getInputTensorType(0, 0);
    const code = type.elementType().value;
    type.delete();
    if (code !== ELEMENT_TYPES[input.dtype].code) {
      throw new Error(`model.json says input ${input.dtype}, the model's element type is ${code}`);
    }
  }

  _buffer(values) {
    const wasm = this.wasm;
    const dimensions = new wasm.VectorInt32();
    for (const d of this.input.shape) dimensions.push_back(d);
    const layout = wasm.LiteRtLayout.create(dimensions);
    dimensions.delete();
    const type = wasm.LiteRtRankedTensorType.create({value: ELEMENT_TYPES[this.input.dtype].code}, layout);
    layout.delete();
    const buffer = wasm.LiteRtTensorBuffer.createManaged(this.environment.liteRtEnvironment,
      wasm.LiteRtTensorBufferType.HOST_MEMORY, type, type.bytes());
    type.delete();
    const at = buffer.lock(wasm.LiteRtTensorBufferLockMode.WRITE);
    try {
      wasm.HEAPU8.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    } finally {
      buffer.unlock();
    }
    return buffer;
  }

  /** One inference: the input tensor's values → {values: the output tensor (typed array), ms: inference time}. */
  async run(values) {
    const wasm = this.wasm;
    const input = this._buffer(values);
    try {
      const start = performance.now();
      const outputs = await this.compiled.run(0, [input]);
      const ms = performance.now() - start;
      const output = outputs[0];
      try {
        const at = output.lock(wasm.LiteRtTensorBufferLockMode.READ);
        const bytes = wasm.HEAPU8.slice(at, at + output.packedSize());
        output.unlock();
        const Type = ELEMENT_TYPES[this.output.dtype].array;
        return {values: new Type(bytes.buffer, 0, bytes.byteLength / Type.BYTES_PER_ELEMENT), ms};
      } finally {
        for (const buffer of outputs) buffer.delete();
      }
    } finally {
      input.delete();
    }
  }

  delete() {
    this.compiled.delete();
    this.model.delete();
    this.wasm._free(this.pointer);
  }
}
