/**
 * First module of the bundled benchmark: tfjs-backend-wasm's Emscripten
 * glue reads the CommonJS `__dirname` under Node, which an ESM bundle does
 * not define; the bundle's own folder (where the .wasm files lie) stands in.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

(globalThis as { __dirname?: string }).__dirname ??= dirname(fileURLToPath(import.meta.url));
