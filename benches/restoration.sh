#!/usr/bin/env bash
# Benchmark 5: what the elements do on held-out clips, beside what users run instead.
# `lcm eval --clip` on consecutive frames of each clip (element defaults: 20 MAP steps, warm
# start, 2 temporal frames, 2 frames of lookahead) for inpainting (a static rectangle two tiles wide, and
# moving film dirt), ×4 super-resolution and colorization. Tables on stdout; JSON reports and
# grids (degraded | methods | truth, middle frame) in out/restoration/.
#   benches/restoration.sh [MODEL] [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/natural-small.safetensors} frames=${2:-6}
scripts/setup.sh --comparators >/dev/null
d=/usr/share/doc/opencv-doc/examples/data
out=out/restoration
mkdir -p "$out"
lcm=./target/release/lcm
# name, input, first frame. tree.avi was used to tune the defaults; the other three are the
# held-out tails of training sources (after their last training frame), never used to tune.
clips=(
    "tree $d/tree.avi 0"
    "street $d/vtest.avi 740"
    "faces $d/Megamind.avi 250"
    "bunny data/footage/bbb.mp4 4800"
)
for clip in "${clips[@]}"; do
    read -r name input start <<<"$clip"
    [ -e "$input" ] || { echo "skipping $name: $input is missing (scripts/fetch-footage.sh)"; continue; }
    common=(--model "$model" --clip --input "$input" --start "$start" --frames "$frames" --device cpu)
    $lcm eval "${common[@]}" --crop 320x240 --task inpaint --damage rect:128x96 --json "$out/$name-rect.json" --grid "$out/$name-rect.png"
    $lcm eval "${common[@]}" --crop 320x240 --task inpaint --damage dirt --json "$out/$name-dirt.json" --grid "$out/$name-dirt.png"
    $lcm eval "${common[@]}" --crop 256x192 --task superres --scale 4 --json "$out/$name-x4.json" --grid "$out/$name-x4.png"
    $lcm eval "${common[@]}" --crop 320x240 --task colorize --json "$out/$name-colorize.json" --grid "$out/$name-colorize.png"
done
benches/restoration_summary.py "$out"/*.json
