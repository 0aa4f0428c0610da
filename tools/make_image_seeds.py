#!/usr/bin/python3
"""Write the structure-aware image seeds of the fuzz_image target (tests/fuzz/corpus/image/dec_*):
small JPEGs and PNGs that between them take every path of the JPEG and PNG decoders, so that
libFuzzer starts inside them instead of having to find each feature by mutation.

JPEG (cjpeg from Debian libjpeg-turbo-progs, Pillow, TurboJPEG through ctypes): baseline with
4:2:0, 4:2:2, 4:4:4, 4:4:0, 4:1:1 and unnamed sampling factors, optimised tables, quality 100, RGB
(no YCbCr transform), restart intervals of a row, 1 block and 3 blocks, a sequential file of three
scans; progressive with the default script, 4:4:4, restarts, spectral selection only, deep
successive approximation (with and without restarts), non-interleaved DC and narrow AC bands;
grey baseline, progressive and with restarts; arithmetic-coded baseline and progressive; Adobe CMYK
(baseline and progressive) and YCCK; EXIF and ICC segments before the frame.
PNG (written here chunk by chunk): RGB, RGBA, grey and grey+alpha at 8 and 16 bits, grey at 1, 2
and 4 bits, palettes of 1, 2, 4 and 8 bits, with tRNS (palette alpha and colour keys), Adam7
interlacing at several depths, gAMA with image data split over many IDAT chunks, and each filter
type alone.

Deterministic (fixed seeds, fixed source picture); the output is committed. tools/make_fuzz_seeds.py
calls this for the image corpus; alone:

    /usr/bin/python3 tools/make_image_seeds.py [--out tests/fuzz/corpus/image] [--size 61 45]
                                               [--png-size 40 30]
"""
import argparse
import ctypes
import ctypes.util
import os
import struct
import subprocess
import tempfile
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "assets", "images", "chelsea.png")
PREFIX = "dec_"

# cjpeg -scans scripts (libjpeg's wizard.txt syntax: components: Ss Se Ah Al).
SCANS = {
    "sequential_3scans": "0: 0 63 0 0;\n1: 0 63 0 0;\n2: 0 63 0 0;\n",
    "spectral": "0,1,2: 0 0 0 0;\n0: 1 5 0 0;\n2: 1 63 0 0;\n1: 1 63 0 0;\n0: 6 63 0 0;\n",
    "deep_sa": "0,1,2: 0 0 0 3;\n0,1,2: 0 0 3 2;\n0,1,2: 0 0 2 1;\n0,1,2: 0 0 1 0;\n"
               "0: 1 63 0 5;\n1: 1 63 0 4;\n2: 1 63 0 4;\n0: 1 63 5 4;\n"
               + "".join(f"{c}: 1 63 {a} {a - 1};\n" for a in (4, 3, 2, 1) for c in (0, 1, 2)),
    "noninterleaved_dc": "0: 0 0 0 0;\n1: 0 0 0 0;\n2: 0 0 0 0;\n"
                         "0: 1 63 0 0;\n1: 1 63 0 0;\n2: 1 63 0 0;\n",
    "narrow_bands": "0,1,2: 0 0 0 1;\n0: 1 1 0 1;\n0: 2 2 0 1;\n0: 3 9 0 1;\n0: 10 63 0 1;\n"
                    "1: 1 63 0 1;\n2: 1 63 0 1;\n0,1,2: 0 0 1 0;\n0: 1 63 1 0;\n1: 1 63 1 0;\n"
                    "2: 1 63 1 0;\n",
    "grey_sa": "0: 0 0 0 1;\n0: 1 63 0 2;\n0: 1 63 2 1;\n0: 0 0 1 0;\n0: 1 63 1 0;\n",
}


def base_rgb(w, h):
    return Image.open(SRC).convert("RGB").resize((w, h), Image.LANCZOS)


def ycck_jpeg(rgb, path, quality):
    """A YCCK JPEG (Adobe transform 2): TurboJPEG compresses CMYK input so. CMYK from RGB as Adobe
    stores it (inverted): K = max(R, G, B), C = R * 255 / K, ..."""
    lib = ctypes.CDLL(ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0")
    lib.tjInitCompress.restype = ctypes.c_void_p
    lib.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                ctypes.POINTER(ctypes.c_ulong), ctypes.c_int, ctypes.c_int,
                                ctypes.c_int]
    lib.tjFree.argtypes = [ctypes.c_void_p]
    lib.tjDestroy.argtypes = [ctypes.c_void_p]
    a = np.asarray(rgb).astype(np.int64)
    k = a.max(axis=2, keepdims=True)
    cmy = np.where(k > 0, a * 255 // np.maximum(k, 1), 0)
    cmyk = np.concatenate([cmy, k], 2).astype(np.uint8).tobytes()
    h, w = a.shape[:2]
    tj = lib.tjInitCompress()
    buf, size = ctypes.c_void_p(), ctypes.c_ulong(0)
    TJPF_CMYK, TJSAMP_420 = 11, 2
    if lib.tjCompress2(tj, cmyk, w, 0, h, TJPF_CMYK, ctypes.byref(buf), ctypes.byref(size),
                       TJSAMP_420, quality, 0):
        raise RuntimeError("tjCompress2 failed")
    with open(path, "wb") as f:
        f.write(ctypes.string_at(buf, size.value))
    lib.tjFree(buf)
    lib.tjDestroy(tj)


def make_jpegs(d, w, h, q=85):
    im = base_rgb(w, h)
    tmp = tempfile.mkdtemp()
    ppm, pgm = os.path.join(tmp, "a.ppm"), os.path.join(tmp, "a.pgm")
    im.save(ppm)
    im.convert("L").save(pgm)
    scans = {}
    for name, text in SCANS.items():
        scans[name] = os.path.join(tmp, name + ".txt")
        with open(scans[name], "w") as f:
            f.write(text)
    names = []

    def J(name, src, *args):
        out = os.path.join(d, PREFIX + name + ".jpg")
        subprocess.run(["cjpeg", "-quality", str(q), *args, "-outfile", out, src], check=True)
        names.append(out)

    J("base_420", ppm, "-sample", "2x2")
    J("base_422", ppm, "-sample", "2x1")
    J("base_444", ppm, "-sample", "1x1")
    J("base_440", ppm, "-sample", "1x2")
    J("base_411", ppm, "-sample", "4x1")
    J("base_odd_sampling", ppm, "-sample", "1x1,2x2,1x1")
    J("base_optimized", ppm, "-optimize")
    J("base_q100", ppm, "-quality", "100", "-sample", "1x1")
    J("base_rgb", ppm, "-rgb")
    J("base_restart_row", ppm, "-restart", "1")
    J("base_restart_1block", ppm, "-restart", "1B")
    J("base_restart_3blocks_444", ppm, "-restart", "3B", "-sample", "1x1")
    J("base_sequential_3scans", ppm, "-scans", scans["sequential_3scans"])
    J("grey_base", pgm)
    J("grey_restart", pgm, "-restart", "2B")
    J("prog_default", ppm, "-progressive")
    J("prog_444", ppm, "-progressive", "-sample", "1x1")
    J("prog_restart_1block", ppm, "-progressive", "-restart", "1B")
    J("prog_restart_row", ppm, "-progressive", "-restart", "1")
    J("prog_spectral", ppm, "-scans", scans["spectral"])
    J("prog_deep_sa", ppm, "-scans", scans["deep_sa"])
    J("prog_deep_sa_restart", ppm, "-scans", scans["deep_sa"], "-restart", "2B")
    J("prog_noninterleaved_dc", ppm, "-scans", scans["noninterleaved_dc"])
    J("prog_narrow_bands", ppm, "-scans", scans["narrow_bands"])
    J("grey_prog", pgm, "-progressive")
    J("grey_prog_sa", pgm, "-scans", scans["grey_sa"])
    J("arith_base", ppm, "-arithmetic")
    J("arith_prog", ppm, "-arithmetic", "-progressive")
    # CMYK: Pillow writes Adobe-marker CMYK (transform 0); TurboJPEG writes YCCK (transform 2).
    P = lambda n: os.path.join(d, PREFIX + n + ".jpg")
    im.convert("CMYK").save(P("cmyk_adobe"), quality=q)
    im.convert("CMYK").save(P("cmyk_adobe_prog"), quality=q, progressive=True)
    ycck_jpeg(im, P("ycck_adobe"), q)
    # APP segments before the frame: an EXIF block (no entries) and a 600-byte ICC profile.
    im.save(P("exif_icc"), quality=q, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00",
            icc_profile=b"\x00" * 600)
    return len(names) + 4


def chunk(t, data):
    c = struct.pack(">I", len(data)) + t + data
    return c + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def filt(rows, bpp, ftypes):
    """Filter rows with the PNG filter types in turn (None, Sub, Up, Average, Paeth)."""
    out = b""
    prev = bytes(len(rows[0])) if rows else b""
    for y, r in enumerate(rows):
        ft = ftypes[y % len(ftypes)]
        f = bytearray(len(r))
        for i in range(len(r)):
            a = r[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 0:
                p = 0
            elif ft == 1:
                p = a
            elif ft == 2:
                p = b
            elif ft == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            f[i] = (r[i] - p) & 255
        out += bytes([ft]) + bytes(f)
        prev = r
    return out


def pack_rows(arr, depth):
    """arr: h x w x ch integers -> one bytes object per row at this bit depth."""
    h, w, ch = arr.shape
    rows = []
    for y in range(h):
        v = arr[y].reshape(-1)
        if depth == 16:
            rows.append(v.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(v.astype(np.uint8).tobytes())
        else:
            bits = "".join(format(int(x), f"0{depth}b") for x in v)
            bits += "0" * (-len(bits) % 8)
            rows.append(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)))
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def write_png(path, arr, ctype, depth, interlace=False, plte=None, trns=None, gama=None,
              idat_split=0, ftypes=(0, 1, 2, 3, 4)):
    h, w, ch = arr.shape
    bpp = max(1, depth * ch // 8)
    raw = b""
    if interlace:
        for (x0, y0, dx, dy) in ADAM7:
            sub = arr[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += filt(pack_rows(sub, depth), bpp, ftypes)
    else:
        raw = filt(pack_rows(arr, depth), bpp, ftypes)
    z = zlib.compress(raw, 9)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0,
                                                            int(interlace)))
    if gama:
        out += chunk(b"gAMA", struct.pack(">I", gama))
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    step = idat_split or len(z)
    for i in range(0, len(z), step):
        out += chunk(b"IDAT", z[i:i + step])
    out += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def make_pngs(d, w, h):
    rng = np.random.default_rng(1)
    im = base_rgb(w, h)
    rgb = np.asarray(im).astype(np.int64)
    grey = np.asarray(im.convert("L")).astype(np.int64)[..., None]
    alpha = np.clip(np.linspace(0, 255, w)[None, :].repeat(h, 0) + rng.integers(-20, 20, (h, w)),
                    0, 255).astype(np.int64)[..., None]
    lo = lambda s: rng.integers(0, 256, s)
    rgb16 = rgb * 256 + lo(rgb.shape)
    grey16 = grey * 256 + lo(grey.shape)
    a16 = alpha * 256 + lo(alpha.shape)
    P = lambda n: os.path.join(d, PREFIX + n + ".png")
    n = 0

    def W(name, *args, **kw):
        nonlocal n
        write_png(P(name), *args, **kw)
        n += 1

    W("rgb8", rgb, 2, 8)
    W("rgb8_interlaced", rgb, 2, 8, interlace=True)
    W("rgba8", np.concatenate([rgb, alpha], 2), 6, 8)
    W("rgba8_interlaced", np.concatenate([rgb, alpha], 2), 6, 8, interlace=True)
    W("grey8", grey, 0, 8)
    W("grey_alpha8", np.concatenate([grey, alpha], 2), 4, 8)
    W("grey_alpha16", np.concatenate([grey16, a16], 2), 4, 16)
    W("grey16", grey16, 0, 16)
    W("grey16_interlaced", grey16, 0, 16, interlace=True)
    W("rgb16", rgb16, 2, 16)
    W("rgb16_interlaced", rgb16, 2, 16, interlace=True)
    W("rgba16", np.concatenate([rgb16, a16], 2), 6, 16)
    for bits in (1, 2, 4):
        W(f"grey{bits}", grey >> (8 - bits), 0, bits)
    W("grey1_interlaced", grey >> 7, 0, 1, interlace=True)
    for bits, colours in ((1, 2), (2, 4), (4, 16), (8, 256)):
        q = im.quantize(colours)
        pal = bytes(q.getpalette()[:3 * colours])
        W(f"palette{bits}", np.asarray(q).astype(np.int64)[..., None], 3, bits, plte=pal)
    q = im.quantize(256)
    pal, idx = bytes(q.getpalette()[:768]), np.asarray(q).astype(np.int64)[..., None]
    W("palette8_trns", idx, 3, 8, plte=pal, trns=bytes(range(0, 256, 2)))
    W("palette8_interlaced", idx, 3, 8, plte=pal, interlace=True)
    q4 = im.quantize(16)
    W("palette4_interlaced_trns", np.asarray(q4).astype(np.int64)[..., None], 3, 4,
      plte=bytes(q4.getpalette()[:48]), trns=bytes([0, 128, 255]), interlace=True)
    c = rgb[0, 0]
    W("rgb8_trns_colorkey", rgb, 2, 8, trns=struct.pack(">HHH", *[int(x) for x in c]))
    W("grey8_trns_colorkey", grey, 0, 8, trns=struct.pack(">H", int(grey[0, 0, 0])))
    W("rgb8_gama_multi_idat", rgb, 2, 8, gama=45455, idat_split=257)
    W("rgb8_filter_none", rgb, 2, 8, ftypes=(0,))
    W("rgb8_filter_paeth", rgb, 2, 8, ftypes=(4,))
    return n


def make_all(out, size=(61, 45), png_size=(40, 30)):
    """Write every seed into `out` (existing dec_* files are replaced); returns how many."""
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.startswith(PREFIX):
            os.remove(os.path.join(out, f))
    return make_jpegs(out, *size) + make_pngs(out, *png_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fuzz", "corpus", "image"))
    ap.add_argument("--size", type=int, nargs=2, default=(61, 45), metavar=("W", "H"))
    ap.add_argument("--png-size", type=int, nargs=2, default=(40, 30), metavar=("W", "H"))
    a = ap.parse_args()
    n = make_all(a.out, tuple(a.size), tuple(a.png_size))
    print(f"image: {n} structure-aware seeds ({PREFIX}*) in {a.out}")


if __name__ == "__main__":
    main()
