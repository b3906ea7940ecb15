#!/usr/bin/env bash
# Trains the shipped models (LCM and its GLO twin, LCM's exemplars, then the autoencoder and WGAN-GP baselines) on
# real footage. Resumable: run it again after an interruption and each run continues from its
# checkpoint.
#   models/train-natural-small.sh [STEPS] [WGAN_STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-8000} wgan_steps=${2:-3000}
scripts/setup.sh
scripts/fetch-footage.sh
cargo build --release --bin lcm
d=/usr/share/doc/opencv-doc/examples/data
common=(--data "$d/vtest.avi" "$d/Megamind.avi" data/footage/bbb.mp4 data/footage/photos
        --preset small --frame-every 20 --frames-per-video 200 --holdout 0.1
        --patches 4000 --batch 16 --seed 7 --half --resume --device cpu)
export OMP_NUM_THREADS=1 # the two runs share the CPU
lcm=(--steps-per-batch 5 --steps "$steps")
./target/release/lcm train "${common[@]}" "${lcm[@]}" --out models/natural-small.safetensors > data/train-lcm.log 2>&1 &
./target/release/lcm train "${common[@]}" "${lcm[@]}" --latent glo --out models/natural-small-glo.safetensors > data/train-glo.log 2>&1 &
wait
# The exemplars inpainting starts from (512 φ fitted to training patches).
./target/release/lcm exemplars --model models/natural-small.safetensors --out models/natural-small.safetensors --half --device cpu
# The baselines one after the other, one thread each (one WGAN-GP step is five critic steps).
./target/release/lcm train "${common[@]}" --latent ae --steps "$steps" --out models/natural-small-ae.safetensors > data/train-ae.log 2>&1
./target/release/lcm train "${common[@]}" --latent wgan-gp --steps "$wgan_steps" --out models/natural-small-wgan-gp.safetensors > data/train-wgan.log 2>&1
tail -n 1 data/train-lcm.log data/train-glo.log data/train-ae.log data/train-wgan.log
