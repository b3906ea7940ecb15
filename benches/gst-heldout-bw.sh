#!/usr/bin/env bash
# Benchmarks 33–34: benches/gst-heldout.sh's comparison on real black-and-white camera footage
# (ViSP's sequences: a handheld camera over a cube and over a model castle, cameras moving over
# a printed target, a sheet's straight edge and an ellipse), none seen by training or tuning.
# Colour is left out: their truth is gray.
#   benches/gst-heldout-bw.sh [TASKS] [FRAMES] [gst_heldout.py options]   (TASKS: rect,dirt,x4)
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-rect,dirt,x4} frames=${2:-6}
shift $(( $# < 2 ? $# : 2 ))
scripts/setup.sh --comparators >/dev/null
[ -e target/release/libgstlcm.so ] || cargo build --release --workspace
v=/usr/share/visp-images-data/ViSP-images
exec .venv/bin/python benches/gst_heldout.py --tasks "$tasks" --frames "$frames" --out out/gst-heldout-bw \
    --clip "mbtcube-150:$v/mbt/cube/image%04d.pgm:150:640x480" \
    --clip "castel-0:$v/mbt-depth/castel/castel/image_%04d.pgm:0:640x480" \
    --clip "mire-300:$v/mire-2/image.%04d.pgm:300:384x288" \
    --clip "mire-450:$v/mire-2/image.%04d.pgm:450:384x288" \
    --clip "line-10:$v/line/image.%04d.pgm:10:364x256" \
    --clip "ellipse-20:$v/ellipse-1/image.%04d.pgm:20:364x256" "$@"
