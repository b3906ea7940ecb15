#!/usr/bin/env bash
# ×4 upscaling of an SD clip with lcmsuperres: the clip is first brought to 192×144 square pixels
# (so the result is 768×576, vtest.avi's own size), then upscaled; writes OUT/x4.mkv and
# OUT/side-by-side.png (bilinear | LCM). Square pixels keep both panels of the side-by-side the
# same picture: the compositor rescales inputs whose pixels are not square.
#   pipelines/superres-x4.sh [CLIP] [OUT] [FRAMES] [ITERATIONS]
source "$(dirname "$0")/common.sh"
clip=${1:-$OPENCV_DATA/vtest.avi}
out=${2:-$LCM_ROOT/out/superres}
frames=${3:-10}
iterations=${4:-20}
mkdir -p "$out"
rm -f "$out"/side-by-side*.png
gst-launch-1.0 -e \
    filesrc location="$clip" ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=192,height=144,pixel-aspect-ratio=1/1 \
        ! identity eos-after="$frames" ! tee name=small \
    small. ! queue ! videoscale method=bilinear ! video/x-raw,width=768,height=576 ! mix.sink_0 \
    small. ! queue ! lcmsuperres model="$LCM_MODEL" scale=4 iterations="$iterations" ! tee name=big \
    big. ! queue ! videoconvert ! avenc_mpeg4 bitrate=8000000 ! matroskamux ! filesink location="$out/x4.mkv" \
    big. ! queue ! mix.sink_1 \
    compositor name=mix sink_1::xpos=768 ! videoconvert ! pngenc ! multifilesink max-files=1 location="$out/side-by-side-%05d.png"
mv "$(ls "$out"/side-by-side-*.png | tail -n 1)" "$out/side-by-side.png"
echo "wrote $out/x4.mkv and $out/side-by-side.png"
