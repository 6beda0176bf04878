#!/usr/bin/env bash
# The GPU benchmark of issue 12, prepared for the `device` tool (a lent
# machine with an NVIDIA H100/H200, no Node.js, no registry): trains the
# search child through the real trainer on tfjs-webgpu (Dawn over Vulkan) and
# on wasm, next to the same network (weights cross-checked) in PyTorch CUDA,
# in one run.
#
#   scripts/gpu-bench.sh pack                 # here: bundle the bench into .gpu/
#   scripts/gpu-bench.sh run [bench options]  # there: set up and run
#
# With the device tool, after `pack`:
#   run(command="bash scripts/gpu-bench.sh run --filters 16 --json", carry=[".gpu"], timeout_s=540)
# `run` writes the bench's output to $OUT/gpu-bench.txt when $OUT is set.
# Bench options: npm run bench -- --help (defaults here: webgpu and wasm,
# PyTorch on CUDA, 20 timed steps). The bundler is ../shared/device/bundle.sh
# (BUNDLER=path to use another copy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case "${1:-}" in
  pack)
    bundler=${BUNDLER:-$root/../shared/device/bundle.sh}
    [ -x "$bundler" ] || { echo "gpu-bench: bundler not found at $bundler (set BUNDLER)" >&2; exit 2; }
    # npm scripts put Node 24 first on PATH; the bundler copies `command -v node`.
    PATH="$root/node_modules/.bin:$PATH" "$bundler" libs/engine/bench/gpu-entry.ts
    # Rebundle with ESM entry points first: the bundler's default (CommonJS "main") gives tfjs-core twice,
    # once for the gradient tree and once for everything else, and the wasm backend then fails.
    node_modules/.bin/esbuild libs/engine/bench/gpu-entry.ts --bundle --platform=node --format=esm --target=node24 \
      --main-fields=module,main --outfile=.gpu/app.mjs --external:'*.node' --log-level=warning \
      --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
    cp libs/engine/bench/torch_reference.py .gpu/
    du -sh .gpu
    ;;
  run)
    shift
    [ -f .gpu/app.mjs ] || { echo "gpu-bench: .gpu/app.mjs missing: run 'scripts/gpu-bench.sh pack' here first and carry .gpu" >&2; exit 2; }
    bash .gpu/setup.sh
    # shellcheck disable=SC1091
    source .gpu/env.sh
    python=$(command -v python3)
    out=${OUT:-.}
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    .gpu/node .gpu/app.mjs --backends webgpu,wasm --torch-device cuda --python "$python" "$@" 2>&1 | tee "$out/gpu-bench.txt"
    ;;
  -h|--help|"")
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *) echo "gpu-bench: unknown command '$1' (pack, run, --help)" >&2; exit 2 ;;
esac
