#!/usr/bin/env bash
# CUDA checks for a lent GPU machine that has no Rust and no GStreamer (torch 2.11.0+cu130 at
# /opt/torch/.venv). Two halves:
#   benches/cuda-check.sh pack   here: build release binaries + the CUDA test binary, unpack
#                                GStreamer's Debian libraries, gather clip and model into
#                                build/cuda-pack (carry that path to the device)
#   benches/cuda-check.sh run    there: CUDA tests and benchmarks 1–4, results under $OUT
set -euo pipefail
cd "$(dirname "$0")/.."
pack=build/cuda-pack
case "${1:-}" in
pack)
    scripts/setup.sh
    cargo build --release --workspace
    test_bin=$(cargo test --release --features cuda-tests --test core --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import json,sys; print(next(j["executable"] for j in list(map(json.loads, sys.stdin)) if j.get("executable") and j["target"]["name"] == "core"))')
    rm -rf "$pack" && mkdir -p "$pack/bin" "$pack/debs" "$pack/root" "$pack/data"
    cp target/release/lcm target/release/libgstlcm.so "$test_bin" "$pack/bin/"
    mv "$pack/bin/$(basename "$test_bin")" "$pack/bin/core-tests"
    strip "$pack"/bin/*  # the device tool carries at most 64 MiB; debug info is most of it
    (cd "$pack/debs" && apt-get download libgstreamer1.0-0 gstreamer1.0-tools gstreamer1.0-plugins-base \
        libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-good gstreamer1.0-libav liborc-0.4-0 >/dev/null)
    for d in "$pack"/debs/*.deb; do dpkg -x "$d" "$pack/root"; done
    rm -rf "$pack/debs"
    cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$pack/data/"  # not in the working tree
    size=$(du -sm "$pack" | cut -f1)
    echo "build/cuda-pack: $size MiB"
    [ "$size" -lt 64 ] || { echo "cuda-check: the pack exceeds the device tool's 64 MiB carry limit" >&2; exit 1; }
    ;;
run)
    out=${OUT:-/tmp/cuda-out}
    mkdir -p "$out"
    root=$PWD/$pack/root
    torch_lib=$(/opt/torch/.venv/bin/python -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")')
    export LD_LIBRARY_PATH="$torch_lib:$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export GST_PLUGIN_SYSTEM_PATH="$root/usr/lib/x86_64-linux-gnu/gstreamer-1.0"
    export GST_PLUGIN_PATH="$PWD/$pack/bin" GST_PLUGIN_SCANNER="$root/usr/lib/x86_64-linux-gnu/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner"
    export PATH="$root/usr/bin:$PATH" LCM_WEIGHTS=/nonexistent
    bin=$pack/bin
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
    # The working tree travels with the pack: test files, benches and the model come from it.
    LCM_TEST_FILES=$PWD/tests/files "$bin/core-tests" --include-ignored auto_device cuda_ > "$out/cuda-tests.txt" 2>&1 || true
    for preset in small ref128; do
        "$bin/lcm" bench step --preset "$preset" --tiles 64 --steps 50 --device cuda --save-model "$out/$preset.safetensors"
        /opt/torch/.venv/bin/python benches/map_step.py "$out/$preset.safetensors" --tiles 64 --steps 50 --device cuda
    done > "$out/bench1-step.txt" 2>&1 || true
    # Benchmark 2: 100 frames per pipeline at the default iterations; device memory sampled
    # every 100 ms per process (peak per stream = peak of the one-stream runs).
    nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader -lms 100 > "$out/gpu-memory.csv" 2>&1 &
    smi=$!
    src="filesrc location=$pack/data/vtest.avi ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=720,height=576 ! identity eos-after=100"
    common="model=models/natural-small.safetensors device=cuda"
    timed() { # label, frames, pipeline
        local start; start=$(date +%s.%N)
        if gst-launch-1.0 -q $3 >/dev/null; then
            echo "$1: $2 frames in $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"
        else
            echo "$1: FAILED"
        fi
    }
    {
        for warm in true false; do
            timed "lcminpaint warm-start=$warm" 100 "$src ! lcminpaint $common mask-rect=330,120,96,72 warm-start=$warm ! fakesink sync=false"
        done
        timed lcmsuperres 100 "$src ! videoscale ! video/x-raw,width=180,height=144 ! lcmsuperres $common scale=4 ! fakesink sync=false"
        timed lcmcolorize 100 "$src ! videoconvert ! video/x-raw,format=GRAY8 ! lcmcolorize $common ! fakesink sync=false"
        four="$src ! tee name=t"
        for i in 1 2 3 4; do four="$four t. ! queue ! lcminpaint $common mask-rect=$((60 * i)),120,96,72 ! fakesink sync=false"; done
        timed "4x lcminpaint (one generator)" 400 "$four"
    } > "$out/bench2-elements.txt" 2>&1 || true
    kill "$smi" 2>/dev/null || true
    for task in inpaint colorize superres; do
        echo "== $task"
        "$bin/lcm" bench warm --model models/natural-small.safetensors --input "$pack/data/vtest.avi" --task "$task" --frames 4 --crop 128 --device cuda
    done > "$out/bench3-warm.txt" 2>&1 || true
    for preset in small ref128; do "$bin/lcm" bench train --preset "$preset" --batch 32 --device cuda; done > "$out/bench4-train.txt" 2>&1 || true
    tail -n +1 "$out"/*.txt
    ;;
*)
    sed -n '2,9p' "$0"; exit 2 ;;
esac
