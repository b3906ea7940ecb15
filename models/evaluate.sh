#!/usr/bin/env bash
# The evaluation tables of models/README.md: every task on the shipped models' held-out frames.
#   models/evaluate.sh [CROPS] [STEPS] [LCM EVAL ARGS…]   → models/eval/{inpaint,superres,colorize}.{json,png}
set -euo pipefail
cd "$(dirname "$0")/.."
crops=${1:-8} steps=${2:-200}
shift $(( $# < 2 ? $# : 2 ))
d=/usr/share/doc/opencv-doc/examples/data
mkdir -p models/eval
for task in inpaint superres colorize; do
    echo "### $task"
    ./target/release/lcm eval --model models/natural-small.safetensors --glo models/natural-small-glo.safetensors \
        --ae models/natural-small-ae.safetensors --wgan-gp models/natural-small-wgan-gp.safetensors \
        --task "$task" --scale 4 --input "$d/vtest.avi" "$d/Megamind.avi" data/footage/bbb.mp4 data/footage/photos \
        --max-frames 200 --frames "$crops" --steps "$steps" --dip-steps "$steps" --device cpu --seed 1 \
        --json "models/eval/$task.json" --grid "models/eval/$task.png" "$@"
done
