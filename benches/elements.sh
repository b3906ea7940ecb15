#!/usr/bin/env bash
# Benchmark 2: element throughput on a real 720×576 clip (vtest.avi) in gst-launch pipelines
# ending in fakesink sync=false silent=false: frames/s, ms/frame and peak RSS per element, and 4 lcminpaint
# streams sharing one generator. Frames are counted at the sinks (identity eos-after= lets a few
# more than asked through), so the rates divide by what was really restored.
#   benches/elements.sh [DEVICE] [FRAMES] [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
source pipelines/common.sh
device=${1:-cpu} frames=${2:-4} iterations=${3:-20}
clip=$OPENCV_DATA/vtest.avi
src="filesrc location=$clip ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=720,height=576 ! identity eos-after=$frames"
common="model=$LCM_MODEL device=$device iterations=$iterations"
run() { # name, pipeline, input → a table row
    local name=$1 pipeline=$2 start end rss log n
    log=$(mktemp)
    start=$(date +%s.%N)
    rss=$( { /usr/bin/time -f %M gst-launch-1.0 -v $pipeline >"$log"; } 2>&1 | tail -n 1 )
    end=$(date +%s.%N)
    n=$(grep -c 'last-message = chain' "$log" || true)
    rm -f "$log"
    python3 -c "t=$end-$start; n=$n; print(f'| $name | $3 | {n} | {n / t:.3f} | {1000 * t / max(n, 1):.0f} | {$rss / 1024:.0f} |')"
}
echo "| element | input | frames | frames/s | ms/frame | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
run lcminpaint "$src ! lcminpaint mask-rect=330,120,96,72 $common ! fakesink sync=false silent=false" "720×576, 96×72 hole"
run lcmsuperres "$src ! videoscale ! video/x-raw,width=180,height=144 ! lcmsuperres scale=4 $common ! fakesink sync=false silent=false" "180×144 → 720×576"
run lcmcolorize "$src ! videoconvert ! video/x-raw,format=GRAY8 ! lcmcolorize $common ! fakesink sync=false silent=false" "720×576 gray"
four="$src ! tee name=t"
for i in 1 2 3 4; do four="$four t. ! queue ! lcminpaint mask-rect=$((60 * i)),120,96,72 $common ! fakesink sync=false silent=false"; done
run "4× lcminpaint (one generator)" "$four" "4 streams 720×576"
