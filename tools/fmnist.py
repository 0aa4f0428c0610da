"""Fashion-MNIST's IDX files (gzipped or not), as Debian's dataset-fashion-mnist installs them.

IDX: big-endian magic 0x0000 08 <ndim> (unsigned bytes), then ndim big-endian uint32 sizes, then the
data. Images are N x 28 x 28, labels N.
"""
import gzip
import os
import struct

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {arr.size} bytes of data, header says {dims}")
    return arr.reshape(dims)


def load(split, directory=DEFAULT_DIR):
    """(images uint8 N x 28 x 28, labels uint8 N) of 'train' or 'test'."""
    img, lab = FILES[split]
    return read_idx(os.path.join(directory, img)), read_idx(os.path.join(directory, lab))
