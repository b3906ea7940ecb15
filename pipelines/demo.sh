#!/usr/bin/env bash
# The README's demo: removes a 96×72 region from 50 frames of a real street clip (vtest.avi)
# with the shipped model, writing out/demo/restored.mkv and out/demo/side-by-side.png.
source "$(dirname "$0")/common.sh"
start=$(date +%s)
"$LCM_ROOT/pipelines/inpaint-rect.sh" "$OPENCV_DATA/vtest.avi" "$LCM_ROOT/out/demo" 330,120,96,72 50  # 50 frames at the element's defaults
echo "demo done in $(( $(date +%s) - start )) s"
