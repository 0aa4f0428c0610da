#!/usr/bin/python3
"""Bad input to `visattn run`: each case must print exactly one line on stderr naming the file,
exit non-zero, and not crash (no signal; under the sanitizer build, no ASan/UBSan report)."""
import argparse
import json
import os
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from safetensors_io import save_file  # noqa: E402


def npy_bytes(descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    w = args.workdir
    os.makedirs(w, exist_ok=True)
    cfg = {"in_channels": 2, "out_channels": 3, "kernel_size": 1}
    good = os.path.join(w, "good.safetensors")
    save_file({"weight": np.ones((3, 2, 1, 1), np.float32), "bias": np.zeros(3, np.float32)}, good,
              metadata={"visattn.model": "conv2d", "visattn.config": json.dumps(cfg)})
    good_in = os.path.join(w, "in.npy")
    np.save(good_in, np.ones((1, 2, 3, 3), np.float32))
    blob = open(good, "rb").read()

    def write(name, data):
        p = os.path.join(w, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    cases = [  # (label, model, input, text expected in the message)
        ("truncated safetensors", write("trunc.safetensors", blob[: len(blob) - 7]), good_in,
         "trunc.safetensors"),
        ("header claims 10^15 bytes", write("huge.safetensors", struct.pack("<Q", 10**15) + b"{}"),
         good_in, "huge.safetensors"),
        ("empty model file", write("empty.safetensors", b""), good_in, "empty.safetensors"),
        ("int8 .npy input", good, write("int8.npy", npy_bytes("|i1", "(1, 2, 3, 3)", bytes(18))),
         "int8.npy"),
        ("empty .npy input", good, write("empty.npy", b""), "empty.npy"),
        ("missing model file", os.path.join(w, "nope.safetensors"), good_in, "nope.safetensors"),
        ("wrong input channels", good, write("c5.npy", npy_bytes("<f4", "(1, 5, 2, 2)", bytes(80))),
         "channels"),
        ("3-D input", good, write("3d.npy", npy_bytes("<f4", "(2, 3, 3)", bytes(72))), "3d.npy"),
        ("unknown model name", write("unk.safetensors", blob.replace(b"conv2d", b"convXd")),
         good_in, "convXd"),
    ]
    failed = 0
    for label, model, inp, needle in cases:
        r = subprocess.run([args.visattn, "run", model, inp, os.path.join(w, "out.npy")],
                           capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        ok = r.returncode > 0 and len(lines) == 1 and needle in lines[0]
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label}: exit {r.returncode}: {r.stderr.strip()!r}")
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
