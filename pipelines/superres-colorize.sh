#!/usr/bin/env bash
# Chains the elements: a small black-and-white clip is upscaled ×2 by lcmsuperres, then coloured
# by lcmcolorize (the gray of the upscaled frames is kept). Writes OUT/result.mkv.
#   pipelines/superres-colorize.sh [CLIP] [OUT] [FRAMES] [ITERATIONS]
source "$(dirname "$0")/common.sh"
clip=${1:-$OPENCV_DATA/tree.avi}
out=${2:-$LCM_ROOT/out/chain}
frames=${3:-5}
iterations=${4:-20}
mkdir -p "$out"
gst-launch-1.0 -e \
    filesrc location="$clip" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! videoconvert \
    ! video/x-raw,format=RGB ! identity eos-after="$frames" \
    ! lcmsuperres model="$LCM_MODEL" scale=2 iterations="$iterations" \
    ! lcmcolorize model="$LCM_MODEL" iterations="$iterations" ! videoconvert \
    ! avenc_mpeg4 bitrate=8000000 ! matroskamux ! filesink location="$out/result.mkv"
echo "wrote $out/result.mkv"
