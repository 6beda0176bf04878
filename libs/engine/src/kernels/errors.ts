/** Errors raised by our wasm training kernels. */

/** A kernel was asked for a layout it does not implement (only NHWC is). */
export class UnsupportedDataFormatError extends Error {
  constructor(kernel: string, dataFormat: string) {
    super(`${kernel} on wasm: dataFormat '${dataFormat}' is not supported; use 'NHWC' (channels last)`);
    this.name = 'UnsupportedDataFormatError';
  }
}

/** A kernel got a tensor of a dtype it does not implement (only float32 is). */
export class UnsupportedDtypeError extends Error {
  constructor(kernel: string, input: string, dtype: string) {
    super(`${kernel} on wasm: input '${input}' has dtype '${dtype}'; only float32 is supported`);
    this.name = 'UnsupportedDtypeError';
  }
}

/** The wasm backend object does not expose the memory our SIMD loops need. */
export class WasmMemoryUnavailableError extends Error {
  constructor(detail: string) {
    super(`tfjs wasm backend: cannot reach its WebAssembly.Memory (${detail}); ` +
      `our training kernels need @tensorflow/tfjs-backend-wasm 4.22's module layout`);
    this.name = 'WasmMemoryUnavailableError';
  }
}

/** A tfjs wasm kernel that ours call (Conv2D, BatchMatMul, ...) is not registered. */
export class MissingBackendKernelError extends Error {
  constructor(kernel: string) {
    super(`tfjs wasm backend has no '${kernel}' kernel, which our training kernels build on`);
    this.name = 'MissingBackendKernelError';
  }
}
