#!/usr/bin/env bash
# The README's demo: removes a 96×72 region from 50 frames of a real street clip (vtest.avi)
# with the shipped model, writing out/demo/restored.mkv and out/demo/side-by-side.png.
source "$(dirname "$0")/common.sh"
start=$(date +%s)
"$LCM_ROOT/pipelines/inpaint-rect.sh" "$OPENCV_DATA/vtest.avi" "$LCM_ROOT/out/demo" 330,120,96,72 50 20  # 50 frames, the elements' default 20 iterations
echo "demo done in $(( $(date +%s) - start )) s"
