#!/usr/bin/env bash
# Benchmark 2: element throughput on a real 720×576 clip (vtest.avi) in gst-launch pipelines
# ending in fakesink sync=false: frames/s, ms/frame and peak RSS per element, and 4 lcminpaint
# streams sharing one generator.
#   benches/elements.sh [DEVICE] [FRAMES] [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
source pipelines/common.sh
device=${1:-cpu} frames=${2:-4} iterations=${3:-20}
clip=$OPENCV_DATA/vtest.avi
src="filesrc location=$clip ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=720,height=576 ! identity eos-after=$frames"
common="model=$LCM_MODEL device=$device iterations=$iterations"
run() { # name, pipeline → a table row
    local name=$1 pipeline=$2 start end rss
    start=$(date +%s.%N)
    rss=$( { /usr/bin/time -f %M gst-launch-1.0 -q $pipeline >/dev/null; } 2>&1 | tail -n 1 )
    end=$(date +%s.%N)
    python3 -c "import sys; t=$end-$start; n=$4; print(f'| $name | $3 | {n / t:.3f} | {1000 * t / n:.0f} | {$rss / 1024:.0f} |')"
}
echo "| element | input | frames/s | ms/frame | peak RSS MiB |"
echo "|---|---|---|---|---|"
run lcminpaint "$src ! lcminpaint mask-rect=330,120,96,72 $common ! fakesink sync=false" "720×576, 96×72 hole" "$frames"
run lcmsuperres "$src ! videoscale ! video/x-raw,width=180,height=144 ! lcmsuperres scale=4 $common ! fakesink sync=false" "180×144 → 720×576" "$frames"
run lcmcolorize "$src ! videoconvert ! video/x-raw,format=GRAY8 ! lcmcolorize $common ! fakesink sync=false" "720×576 gray" "$frames"
four="$src ! tee name=t"
for i in 1 2 3 4; do four="$four t. ! queue ! lcminpaint mask-rect=$((60 * i)),120,96,72 $common ! fakesink sync=false"; done
run "4× lcminpaint (one generator)" "$four" "4 streams 720×576" "$((4 * frames))"
