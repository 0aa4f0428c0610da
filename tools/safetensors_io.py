"""Minimal safetensors reader/writer (numpy only) that interoperates with visattn's C reader/writer.

Debian ships no `safetensors` package, so this follows the format description
(https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N, N bytes of JSON
({"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}, padded
with spaces), then the tensor bytes, little-endian, offsets relative to the end of the header.

    save_file({"conv.weight": w, ...}, "m.safetensors", metadata={"visattn.block": "se"})
    tensors, metadata = load_file("m.safetensors")

Values may be numpy arrays or torch tensors (converted through numpy; torch is not imported here).
Float arrays are written as F32 (float16 as F16); int64 is allowed only for BatchNorm's
`num_batches_tracked`, written as I64, which visattn lists and ignores.
"""
import json
import struct

import numpy as np

__all__ = ["save_file", "load_file", "SafetensorsError"]

# Same limit as the C reader (VA_ST_MAX_HEADER_BYTES).
MAX_HEADER_BYTES = 100 * 1024 * 1024

_DTYPES = {  # safetensors name -> little-endian numpy dtype
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # numpy has no bfloat16: read the raw bits, widen to float32 below
    "I64": np.dtype("<i8"),
}


class SafetensorsError(ValueError):
    pass


def _to_numpy(name, value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # numpy cannot hold bfloat16
            value = value.float()
        return value.numpy()
    if isinstance(value, (np.generic, float, int)):
        return np.asarray(value)
    raise TypeError(f"tensor '{name}': expected a numpy array or torch tensor, got {type(value)}")


def _encode(name, value):
    a = _to_numpy(name, value)
    if a.dtype == np.int64 or (a.dtype.kind in "iu" and name.endswith("num_batches_tracked")):
        if not name.endswith("num_batches_tracked"):
            raise SafetensorsError(f"tensor '{name}': int64 is only allowed for num_batches_tracked")
        return "I64", np.array(a, dtype="<i8", order="C")
    if a.dtype == np.float16:
        return "F16", np.array(a, dtype="<f2", order="C")
    if a.dtype.kind == "f":
        return "F32", np.array(a, dtype="<f4", order="C")
    raise SafetensorsError(f"tensor '{name}': unsupported dtype {a.dtype} (want float32)")


def save_file(tensors, path, metadata=None):
    """Write `tensors` (name -> array) and string `metadata` to `path` in safetensors format."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata {k!r}: keys and values must be str, got {type(v)}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise SafetensorsError(f"bad tensor name {name!r}")
        dtype, a = _encode(name, value)
        data = a.tobytes()
        header[name] = {"dtype": dtype, "shape": [int(d) for d in a.shape],
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # data section 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def _fail(path, msg):
    raise SafetensorsError(f"{path}: {msg}")


def load_file(path):
    """Read `path`; return (dict name -> numpy array, metadata dict). BF16 is widened to float32,
    F16 stays float16, I64 stays int64. Validates like the C reader."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        _fail(path, f"file is {len(blob)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER_BYTES or n > len(blob) - 8:
        _fail(path, f"header length {n} is out of range (file has {len(blob)} bytes)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        _fail(path, f"header is not valid JSON: {e}")
    if not isinstance(header, dict):
        _fail(path, "header is not a JSON object")
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        _fail(path, "__metadata__ must be an object of strings")
    out = {}
    ranges = []
    for name, info in header.items():
        if not isinstance(info, dict):
            _fail(path, f"tensor '{name}': entry is not an object")
        dtype = info.get("dtype")
        if dtype not in _DTYPES:
            _fail(path, f"tensor '{name}': unsupported dtype {dtype!r}")
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            _fail(path, f"tensor '{name}': shape must be a list of non-negative integers")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(type(o) is int and o >= 0 for o in offs) or offs[0] > offs[1]):
            _fail(path, f"tensor '{name}': bad data_offsets {offs!r}")
        begin, end = offs
        if end > len(data):
            _fail(path, f"tensor '{name}': data_offsets {offs} exceed the data section "
                        f"({len(data)} bytes)")
        dt = _DTYPES[dtype]
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if count * dt.itemsize != end - begin:
            _fail(path, f"tensor '{name}': shape {shape} {dtype} does not match data_offsets {offs}")
        a = np.frombuffer(data[begin:end], dtype=dt).reshape(shape).copy()
        if dtype == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a
        if end > begin:
            ranges.append((begin, end, name))
    ranges.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            _fail(path, f"tensors '{n0}' and '{n1}' overlap")
    return out, dict(metadata)


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        ts, meta = load_file(p)
        print(p, meta)
        for k, v in ts.items():
            print(f"  {k}: {v.dtype} {list(v.shape)}")
