#!/usr/bin/env bash
# Soak: FRAMES small frames through each element at few iterations, sampling the gst-launch
# process's resident memory every second. Prints, per element, the frames restored, the time,
# and RSS at 10 %, 50 % and 100 % of the run (a leak shows as growth after warm-up), plus the
# whole curve in out/soak/ELEMENT.tsv (seconds, RSS MiB). Torch runs one thread (OMP_NUM_THREADS).
#   benches/soak.sh [FRAMES] [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
source pipelines/common.sh
frames=${1:-10000} iterations=${2:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p out/soak
src="videotestsrc num-buffers=$frames pattern=ball ! video/x-raw,format=RGB,width=32,height=24"
common="model=$LCM_MODEL device=cpu iterations=$iterations"
soak() { # name, pipeline → a table row
    local name=$1 pipeline=$2 log curve pid start n
    log=$(mktemp) curve=out/soak/$name.tsv
    start=$(date +%s)
    gst-launch-1.0 -v $pipeline >"$log" 2>&1 &
    pid=$!
    : >"$curve"
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$rss" ] && echo "$(($(date +%s) - start)) $((rss / 1024))" >>"$curve"
        sleep 1
    done
    wait "$pid" || { echo "| $name | failed: $(grep -m1 ERROR "$log") |"; rm -f "$log"; return; }
    n=$(grep -c 'last-message = chain' "$log" || true)
    rm -f "$log"
    python3 - "$curve" "$name" "$n" "$start" <<'PY'
import sys, time
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
name, n, start = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
at = lambda f: rows[min(len(rows) - 1, int(f * (len(rows) - 1)))][1]
print(f"| {name} | {n} | {time.time() - start:.0f} | {at(0.1):.0f} | {at(0.5):.0f} | {at(1.0):.0f} | {at(1.0) - at(0.1):+.1f} |")
PY
}
echo "| element | frames | seconds | RSS MiB at 10 % | at 50 % | at 100 % | growth after 10 % |"
echo "|---|---|---|---|---|---|---|"
soak lcminpaint "$src ! lcminpaint mask-rect=4,4,10,8 $common ! fakesink sync=false silent=false"
soak lcmsuperres "$src ! lcmsuperres scale=2 $common ! fakesink sync=false silent=false"
soak lcmcolorize "$src ! videoconvert ! video/x-raw,format=GRAY8 ! lcmcolorize $common ! fakesink sync=false silent=false"
