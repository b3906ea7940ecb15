#!/usr/bin/env bash
# Restores damage marked upstream through alpha: the `alpha` element keys near-black pixels
# (drop-outs, dead lines) to transparent, and lcminpaint fills exactly those, leaving every other
# pixel bit-exact. Writes OUT/restored.mkv.
#   pipelines/damage-alpha.sh [CLIP] [OUT] [FRAMES] [ITERATIONS]
source "$(dirname "$0")/common.sh"
clip=${1:-$OPENCV_DATA/Megamind_bugy.avi}
out=${2:-$LCM_ROOT/out/damage}
frames=${3:-20}
iterations=${4:-30}
mkdir -p "$out"
gst-launch-1.0 -e \
    filesrc location="$clip" ! decodebin ! videoconvert ! identity eos-after="$frames" \
    ! alpha method=custom target-r=0 target-g=0 target-b=0 angle=10 noise-level=2 ! video/x-raw,format=RGBA \
    ! lcminpaint model="$LCM_MODEL" iterations="$iterations" ! videoconvert \
    ! avenc_mpeg4 bitrate=8000000 ! matroskamux ! filesink location="$out/restored.mkv"
echo "wrote $out/restored.mkv"
