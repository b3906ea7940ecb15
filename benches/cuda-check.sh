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
        | python3 -c 'import json,sys; print([j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable")][-1])')
    rm -rf "$pack" && mkdir -p "$pack/bin" "$pack/debs" "$pack/root" "$pack/data"
    cp target/release/lcm target/release/libgstlcm.so "$test_bin" "$pack/bin/"
    mv "$pack/bin/$(basename "$test_bin")" "$pack/bin/core-tests"
    (cd "$pack/debs" && apt-get download libgstreamer1.0-0 gstreamer1.0-tools gstreamer1.0-plugins-base \
        libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-good gstreamer1.0-libav liborc-0.4-0 >/dev/null)
    for d in "$pack"/debs/*.deb; do dpkg -x "$d" "$pack/root"; done
    rm -rf "$pack/debs"
    cp /usr/share/doc/opencv-doc/examples/data/vtest.avi models/natural-small.safetensors "$pack/data/"
    cp -r tests/files "$pack/data/files"
    cp -r benches tests/python "$pack/"
    du -sh "$pack"
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
    (cd "$pack/data" && "$PWD/../bin/core-tests" --include-ignored auto_device batched parity 2>&1) > "$out/cuda-tests.txt" || true
    for preset in small ref128; do
        "$bin/lcm" bench step --preset "$preset" --tiles 64 --steps 50 --device cuda --save-model "$out/$preset.safetensors"
        /opt/torch/.venv/bin/python "$pack/benches/map_step.py" "$out/$preset.safetensors" --tiles 64 --steps 50 --device cuda
    done > "$out/bench1-step.txt" 2>&1 || true
    src="filesrc location=$pack/data/vtest.avi ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=720,height=576 ! identity eos-after=100"
    for warm in true false; do
        start=$(date +%s.%N)
        gst-launch-1.0 -q $src ! lcminpaint model=$pack/data/natural-small.safetensors device=cuda mask-rect=330,120,96,72 warm-start=$warm ! fakesink sync=false
        echo "lcminpaint warm-start=$warm: 100 frames in $(python3 -c "print($(date +%s.%N) - $start)") s"
    done > "$out/bench2-elements.txt" 2>&1 || true
    "$bin/lcm" bench warm --model "$pack/data/natural-small.safetensors" --input "$pack/data/vtest.avi" --device cuda > "$out/bench3-warm.txt" 2>&1 || true
    for preset in small ref128; do "$bin/lcm" bench train --preset "$preset" --batch 32 --device cuda; done > "$out/bench4-train.txt" 2>&1 || true
    tail -n +1 "$out"/*.txt
    ;;
*)
    sed -n '2,9p' "$0"; exit 2 ;;
esac
