/**
 * The training engine: backend choice and the wasm kernels that make
 * TensorFlow.js able to train NASNet convolutions on CPUs.
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import { batchNormTraining, initBackend } from '@nasnet/engine';
 * const { backend, reason } = await initBackend('auto');   // a service passes its NAS_BACKEND
 * // Build and train with tfjs-core ops; gradients work on tensorflow,
 * // webgpu, wasm and cpu alike (dilated convs included). Use
 * // batchNormTraining for BN: one fused kernel each way on wasm.
 * const { y, mean, variance } = batchNormTraining(tf.conv2d(tf.relu(x), w, 1, 'same'), gamma, beta);
 * ```
 *
 * initBackend registers our gradients over tfjs's. Code that registers
 * tfjs's gradients again afterwards (a dynamic import of
 * @tensorflow/tfjs-layers, say) should call registerTrainingGradients().
 */
export {
  initBackend, defaultWasmThreads, BACKEND_NAMES, UnknownBackendError, BackendUnavailableError, GradientRegistrationError,
} from './backend.js';
export type { BackendName, BackendChoice, InitBackendOptions } from './backend.js';
export { registerWasmTrainingKernels, registerTrainingGradients } from './kernels/register.js';
export { WASM_TRAINING_KERNELS } from './kernels/training-kernels.js';
export { batchNormTraining, BATCH_NORM_EPSILON } from './kernels/batch-norm.js';
export type { BatchNormTrainingResult } from './kernels/batch-norm.js';
export { clippedGradients, clippedSgdStep, composedSgdStep, SgdStepInputError } from './kernels/sgd-step.js';
export type { ClippedSgdStepInput, ClippedSgdStepResult } from './kernels/sgd-step.js';
export { movingAverages, MovingAveragesInputError } from './kernels/moving-averages.js';
export {
  MissingBackendKernelError, UnsupportedDataFormatError, UnsupportedDtypeError, WasmMemoryUnavailableError,
} from './kernels/errors.js';
export { DepthwiseGradientInputError } from './kernels/gradients/DepthwiseConv2dNative_grad.js';
export { WasmOutOfMemoryError, DEFAULT_WASM_HEAP_LIMIT_BYTES, guardWasmHeap } from './wasm-memory.js';
export { MAX_WASM_THREADS, WasmThreadsUnavailableError } from './wasm-threads.js';
export { KernelThreadError, KernelThreadStartError } from './kernels/simd/thread-pool.js';
export { gradientsReleasing, variableGradsReleasing, GradientComputationError } from './releasing-gradients.js';
export { applyReleasing, ModelGraphError, MASK_SEED_LOG, RECOMPUTING } from './apply-releasing.js';
export type { FunctionalModel, ApplyReleasingOptions } from './apply-releasing.js';
