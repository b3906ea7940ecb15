#!/usr/bin/env bash
# Benchmark 18: the elements through gst-launch-1.0 at their defaults on clip segments no
# training run and no tuning choice saw, damaged here rather than by lcm (benches/gst_heldout.py
# says how), beside what users run instead. Table on stdout; report.json, grids (input |
# each method | truth, middle frame) and one contact sheet per task (<task>-sheet.jpg, all
# segments' grids; docs/heldout/ keeps the last published ones) in out/gst-heldout/.
#   benches/gst-heldout.sh [TASKS] [FRAMES] [gst_heldout.py options, e.g. --rect 0.4,0.35,0.6 --out DIR]
#   (TASKS: rect,dirt,x2,x4,colorize,[key]hints10,[key]hints100)
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-rect,dirt,x4,colorize} frames=${2:-6}
shift $(( $# < 2 ? $# : 2 ))
scripts/setup.sh --comparators >/dev/null
scripts/fetch-footage.sh >/dev/null
[ -e target/release/libgstlcm.so ] || cargo build --release --workspace
d=/usr/share/doc/opencv-doc/examples/data
f=data/footage b=data/footage/bbb.mp4
# Held out: vtest.avi trained on frames before 720 and tuned on 740–745; Megamind on frames
# before 240 and tuned on 250–255 (Megamind_bugy is the same film); Big Buck Bunny trained
# before 3,600 and tuned on 4,800 and 10,000; the cube is ViSP's handheld B/W video; carphone
# (a real face, handheld in a car) and bikes (street shots) came in at benchmark 39: they
# pointed to its lever (colour's one-level flicker), whose setting the tuning clips chose.
exec .venv/bin/python benches/gst_heldout.py --tasks "$tasks" --frames "$frames" \
    --clip "street-720:$d/vtest.avi:720:640x480" \
    --clip "street-770:$d/vtest.avi:770:640x480" \
    --clip "face:$d/Megamind_bugy.avi:262:640x360" \
    --clip "face-small:$d/Megamind_bugy.avi:262:176x144" \
    --clip "bunny-6000:$b:6000:640x360" \
    --clip "bunny-9000:$b:9000:640x360" \
    --clip "bunny-12000:$b:12000:640x360" \
    --clip "bunny-13500:$b:13500:640x360" \
    --clip "cube:/usr/share/visp-images-data/ViSP-images/video/cube.mpeg:20:384x288" \
    --clip "carphone-10:$f/carphone.mp4:10:176x144" \
    --clip "carphone-60:$f/carphone.mp4:60:176x144" \
    --clip "carphone-100:$f/carphone.mp4:100:176x144" \
    --clip "bikes-10:$f/bikes.mp4:10:640x272" \
    --clip "bikes-40:$f/bikes.mp4:40:640x272" \
    --clip "bikes-150:$f/bikes.mp4:150:640x272" \
    --clip "bikes-200:$f/bikes.mp4:200:640x272" "$@"
