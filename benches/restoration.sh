#!/usr/bin/env bash
# Benchmark 5: what the elements do on held-out clips, beside what users run instead.
# `lcm eval --clip` on consecutive frames of each clip (element defaults: 20 MAP steps, warm
# start, 2 temporal frames, 2 frames of lookahead) for inpainting (a static rectangle two tiles wide, and
# moving film dirt), ×4 super-resolution and colorization. Tables on stdout; JSON reports and
# grids (degraded | methods | truth, middle frame) in out/restoration/.
#   benches/restoration.sh [MODEL] [FRAMES] [TASKS]   (TASKS: e.g. rect,dirt; default every task)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/natural-small.safetensors} frames=${2:-6} only=${3:-rect,dirt,x4,colorize}
scripts/setup.sh --comparators >/dev/null
d=/usr/share/doc/opencv-doc/examples/data
out=out/restoration
mkdir -p "$out"
lcm=./target/release/lcm
# name, input, first frame, tasks. tree.avi was used to tune the defaults, and street, faces
# and bunny (the held-out tails of training sources) to choose among them; cube (a handheld B/W
# sequence, scripts/setup.sh --comparators installs it) and bunny-late (Big Buck Bunny far past
# its training frames) are held out from training and tuning alike.
V=/usr/share/visp-images-data/ViSP-images
clips=(
    "tree $d/tree.avi 0 rect,dirt,x4,colorize"
    "street $d/vtest.avi 740 rect,dirt,x4,colorize"
    "faces $d/Megamind.avi 250 rect,dirt,x4,colorize"
    "bunny data/footage/bbb.mp4 4800 rect,dirt,x4,colorize"
    "cube $V/mbt/cube 100 rect,dirt,x4"
    "bunny-late data/footage/bbb.mp4 10000 rect,dirt,x4,colorize"
)
for clip in "${clips[@]}"; do
    read -r name input start tasks <<<"$clip"
    [ -e "$input" ] || { echo "skipping $name: $input is missing (scripts/fetch-footage.sh, scripts/setup.sh --comparators)"; continue; }
    common=(--model "$model" --clip --input "$input" --start "$start" --frames "$frames" --device cpu)
    for task in ${tasks//,/ }; do
        [[ ",$only," == *",$task,"* ]] || continue
        case $task in
            rect) args=(--crop 320x240 --task inpaint --damage rect:128x96) ;;
            dirt) args=(--crop 320x240 --task inpaint --damage dirt) ;;
            x4) args=(--crop 256x192 --task superres --scale 4) ;;
            colorize) args=(--crop 320x240 --task colorize) ;;
        esac
        $lcm eval "${common[@]}" "${args[@]}" --json "$out/$name-$task.json" --grid "$out/$name-$task.png"
    done
done
benches/restoration_summary.py "$out"/*.json
