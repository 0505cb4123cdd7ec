#!/usr/bin/env bash
# What this machine's GPU gives peftlab, in at most five minutes and without the network:
# nvidia-smi, the WebGPU adapter, matmul GFLOP/s at 1024³ and 4096³, the bench model's training
# tokens/s (full, LoRA, prompt) and the smoke pipeline, all on `webgpu`. Writes one JSON file
# (default artifacts/gpu-check.json) and prints it. Needs `deno install` to have been run once.
#
#   scripts/gpu-check.sh [OUT.json] [--budget-s SECONDS]   (default budget 300)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v deno >/dev/null; then
  echo "gpu-check: deno is not on PATH (see README.md)" >&2
  exit 2
fi
if [ ! -d node_modules/@tensorflow/tfjs-backend-webgpu ]; then
  echo "gpu-check: node_modules is missing; run \`deno install\` once (with the network)" >&2
  exit 2
fi
# --cached-only: never fetch anything. The Vulkan loader's "XDG_RUNTIME_DIR is invalid" is harmless.
exec deno run --cached-only --allow-all --unstable-ffi scripts/gpu_check.ts "$@"
