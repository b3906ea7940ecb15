#!/usr/bin/env bash
# Colorizes a black-and-white clip or photo with lcmcolorize (GRAY8 in, RGB out with the same
# gray); writes OUT/colour-%05d.png. A still photo is colorized as a one-frame stream. HINTS is
# an optional image whose non-transparent pixels give colours (a few clicks are enough; the
# colour spreads along the gray's edges).
#   pipelines/colorize.sh [CLIP_OR_PHOTO] [OUT] [FRAMES] [ITERATIONS] [HINTS]
source "$(dirname "$0")/common.sh"
input=${1:-$OPENCV_DATA/tree.avi}
out=${2:-$LCM_ROOT/out/colorize}
frames=${3:-10}
iterations=${4:-40}
hints=${5:-}
mkdir -p "$out"
gst-launch-1.0 -e \
    filesrc location="$input" ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! identity eos-after="$frames" \
    ! lcmcolorize model="$LCM_MODEL" iterations="$iterations" ${hints:+hints="$hints"} ! videoconvert ! pngenc \
    ! multifilesink location="$out/colour-%05d.png"
echo "wrote $(ls "$out"/colour-*.png | wc -l) frames to $out"
