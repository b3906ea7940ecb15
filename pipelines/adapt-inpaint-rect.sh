#!/usr/bin/env bash
# Adapts the shipped prior to a clip (its known pixels, the rectangle left out), then removes the
# rectangle with lcminpaint running the adapted model. The adapted model is OUT/adapted.safetensors
# (reusable with any recipe: LCM_MODEL=OUT/adapted.safetensors pipelines/…).
#   pipelines/adapt-inpaint-rect.sh [CLIP] [OUT] [X,Y,W,H] [MINUTES] [WIDTHxHEIGHT]
# X,Y,W,H is in the clip's own pixels; WIDTHxHEIGHT must be the clip's own size.
source "$(dirname "$0")/common.sh"
clip=${1:-$OPENCV_DATA/vtest.avi}
out=${2:-$LCM_ROOT/out/adapt-inpaint}
rect=${3:-330,120,96,72}
minutes=${4:-5}
size=${5:-768x576}
mkdir -p "$out"
"$LCM_ROOT/target/release/lcm" adapt --model "$LCM_MODEL" --data "$clip" --mask "rect:$rect" \
    --minutes "$minutes" --out "$out/adapted.safetensors"
LCM_MODEL="$out/adapted.safetensors" "$(dirname "$0")/inpaint-rect.sh" "$clip" "$out" "$rect" 50 "" "$size"
