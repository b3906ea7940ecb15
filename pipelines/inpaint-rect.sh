#!/usr/bin/env bash
# Removes a rectangle (a logo, a burnt-in timestamp, a hole) from a clip with lcminpaint.
# Writes OUT/restored.mkv and OUT/side-by-side.png (input with the hole blacked out | restored).
#   pipelines/inpaint-rect.sh [CLIP] [OUT] [X,Y,W,H] [FRAMES] [ITERATIONS] [WIDTHxHEIGHT]
source "$(dirname "$0")/common.sh"
clip=${1:-$OPENCV_DATA/vtest.avi}
out=${2:-$LCM_ROOT/out/inpaint}
rect=${3:-330,120,96,72}
frames=${4:-50}
iterations=${5:-}  # empty: the element's default
size=${6:-768x576}
width=${size%x*} height=${size#*x}
IFS=, read -r x y w h <<<"$rect"
mkdir -p "$out"
rm -f "$out"/side-by-side*.png
gst-launch-1.0 -e \
    filesrc location="$clip" ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB,width="$width",height="$height" ! identity eos-after="$frames" ! tee name=input \
    input. ! queue ! mix.sink_0 \
    input. ! queue ! lcminpaint model="$LCM_MODEL" mask-rect="$rect" ${iterations:+iterations="$iterations"} ! tee name=restored \
    restored. ! queue ! videoconvert ! avenc_mpeg4 bitrate=8000000 ! matroskamux ! filesink location="$out/restored.mkv" \
    restored. ! queue ! mix.sink_1 \
    input. ! queue ! videocrop left="$x" top="$y" right=$((width - x - w)) bottom=$((height - y - h)) ! videobalance brightness=-1 saturation=0 ! mix.sink_2 \
    compositor name=mix sink_1::xpos="$width" sink_2::xpos="$x" sink_2::ypos="$y" \
        ! videoconvert ! pngenc ! multifilesink max-files=1 location="$out/side-by-side-%05d.png"
mv "$(ls "$out"/side-by-side-*.png | tail -n 1)" "$out/side-by-side.png"
echo "wrote $out/restored.mkv and $out/side-by-side.png"
