#!/usr/bin/env bash
# Benchmark 1: one MAP step in lcm vs PyTorch eager, same weights, same machine, same run
# (both in float32).
#   benches/step.sh [DEVICE] [TILES] [STEPS] [ROUNDS]      (DEVICE: cpu or cuda)
# Each figure is the median over ROUNDS processes of each one's median step time.
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cpu} tiles=${2:-16} steps=${3:-20} rounds=${4:-3}
lcm=${LCM_BIN:-target/release/lcm}
python=${LCM_PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# lcm keeps freed host memory for reuse (lcm::device::retain_host_memory); the last column runs
# the PyTorch twin with the same glibc settings, to show what part of the gap that is.
retain=(env MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647)
median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
field() { tail -n 1 | cut -d'|' -f5 | tr -d ' '; }
echo "| preset | tiles | lcm ms | PyTorch ms | ratio lcm/PyTorch | PyTorch ms, lcm's malloc settings |"
echo "|---|---|---|---|---|---|"
for preset in small ref128; do
    n=$tiles
    [ "$preset" = ref128 ] && n=$(( tiles / 4 > 0 ? tiles / 4 : 1 ))
    "$lcm" bench step --preset "$preset" --tiles 1 --steps 1 --device "$device" --save-model "$tmp/$preset.safetensors" >/dev/null
    ours=() theirs=() theirs_retained=()
    for _ in $(seq "$rounds"); do  # interleaved, so drift in machine load hits all three alike
        ours+=("$("$lcm" bench step --preset "$preset" --tiles "$n" --steps "$steps" --device "$device" --precision float32 | field)")
        theirs+=("$("$python" benches/map_step.py "$tmp/$preset.safetensors" --tiles "$n" --steps "$steps" --device "$device" | field)")
        theirs_retained+=("$("${retain[@]}" "$python" benches/map_step.py "$tmp/$preset.safetensors" --tiles "$n" --steps "$steps" --device "$device" | field)")
    done
    a=$(echo "${ours[*]}" | median) b=$(echo "${theirs[*]}" | median) c=$(echo "${theirs_retained[*]}" | median)
    echo "| $preset | $n | $a | $b | $(python3 -c "print(f'{$a / $b:.3f}')") | $c |"
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
