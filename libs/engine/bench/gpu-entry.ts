/**
 * Entry of the bundled benchmark (scripts/gpu-bench.sh pack): the bundler
 * resolves tfjs-core's gradient tree statically here, which a plain Node
 * process cannot (the engine loads it through tsx's CommonJS hook instead).
 */
import './gpu-globals.js';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import './bench.js';
