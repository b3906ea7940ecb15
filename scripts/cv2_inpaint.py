#!/usr/bin/env python3
"""OpenCV's classical inpainting (Telea, Navier-Stokes) as comparators for `lcm eval --clip`.

Reads DIR/frame_NNN.png and DIR/mask_NNN.png (white = missing), writes DIR/telea_NNN.png and
DIR/ns_NNN.png. Radius 3, OpenCV's usual setting. Needs opencv-python-headless
(`scripts/setup.sh --comparators`).
"""
import pathlib
import sys

import cv2

folder = pathlib.Path(sys.argv[1])
for frame_path in sorted(folder.glob("frame_*.png")):
    index = frame_path.stem.split("_")[1]
    frame = cv2.imread(str(frame_path), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(folder / f"mask_{index}.png"), cv2.IMREAD_GRAYSCALE)
    for name, flag in (("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS)):
        cv2.imwrite(str(folder / f"{name}_{index}.png"), cv2.inpaint(frame, (mask > 127).astype("uint8") * 255, 3, flag))
