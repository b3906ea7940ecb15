#!/usr/bin/env bash
# Benchmark 1: one MAP step in lcm vs PyTorch eager, same weights, same machine, same run.
#   benches/step.sh [DEVICE] [TILES] [STEPS]      (DEVICE: cpu or cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cpu} tiles=${2:-16} steps=${3:-20}
lcm=${LCM_BIN:-target/release/lcm}
python=${LCM_PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| preset | tiles | lcm ms | PyTorch ms | ratio lcm/PyTorch |"
echo "|---|---|---|---|---|"
for preset in small ref128; do
    n=$tiles
    [ "$preset" = ref128 ] && n=$(( tiles / 4 > 0 ? tiles / 4 : 1 ))
    ours=$("$lcm" bench step --preset "$preset" --tiles "$n" --steps "$steps" --device "$device" --save-model "$tmp/$preset.safetensors" | tail -n 1 | cut -d'|' -f5)
    theirs=$("$python" benches/map_step.py "$tmp/$preset.safetensors" --tiles "$n" --steps "$steps" --device "$device" | cut -d'|' -f5)
    ratio=$(python3 -c "print(f'{float($ours) / float($theirs):.3f}')")
    echo "| $preset | $n | ${ours// /} | ${theirs// /} | $ratio |"
done
# The machine's measured fp32 peak, to read the achieved GFLOP/s of `lcm bench step` against.
"$python" - "$device" <<'PY'
import statistics, sys, time
import torch
dev = torch.device(sys.argv[1])
a, b = torch.randn(2048, 2048, device=dev), torch.randn(2048, 2048, device=dev)
times = []
for _ in range(10):
    if dev.type == "cuda": torch.cuda.synchronize()
    t = time.perf_counter(); a @ b
    if dev.type == "cuda": torch.cuda.synchronize()
    times.append(time.perf_counter() - t)
print(f"\nmachine fp32 GEMM peak (2048³, median): {2 * 2048 ** 3 / statistics.median(times[3:]) / 1e9:.0f} GFLOP/s")
PY
