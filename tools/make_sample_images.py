#!/usr/bin/python3
"""Write the Fashion-MNIST sample images shipped in assets/images/.

A few test-set images (the first of some classes), upscaled 8x by pixel replication to 224 x 224 and
saved as 8-bit greyscale PNGs. Replication (not interpolation) keeps them exact: `visattn heatmap`
resizes them back to the models' 28 x 28 with bilinear interpolation (align_corners=False), which
at an exact factor of 8 averages two copies of the same pixel and so recovers the original image.

    /usr/bin/python3 tools/make_sample_images.py [--data DIR] [--out assets/images]

Needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) and numpy only.
"""
import argparse
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle_boot"]
PICK = [9, 1, 8, 7, 3]  # ankle boot, trouser, bag, sneaker, dress
SCALE = 8


def png_bytes(grey):
    """An 8-bit greyscale PNG (colour type 0), filter 0 on every row."""
    h, w = grey.shape

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + grey[y].tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=fmnist.DEFAULT_DIR)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "assets",
                                                  "images"))
    args = ap.parse_args()
    images, labels = fmnist.load("test", args.data)
    os.makedirs(args.out, exist_ok=True)
    for cls in PICK:
        idx = int(np.nonzero(labels == cls)[0][0])
        big = np.kron(images[idx], np.ones((SCALE, SCALE), np.uint8))
        path = os.path.join(args.out, f"fmnist_{idx:04d}_{CLASSES[cls]}.png")
        with open(path, "wb") as f:
            f.write(png_bytes(big))
        print(f"wrote {path} (test image {idx}, class {cls} {CLASSES[cls]})")


if __name__ == "__main__":
    main()
