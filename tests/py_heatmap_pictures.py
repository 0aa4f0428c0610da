#!/usr/bin/python3
"""`visattn heatmap` pictures as people look at them (issue 16).

1. EXIF orientation: a JPEG written by Pillow with each EXIF Orientation 1..8 gives overlays whose
   image part equals Pillow's ImageOps.exif_transpose of the file (the upright picture every viewer
   shows), so orientation 6 swaps width and height.
2. A file of no known format: one line naming it and listing the formats that are read.
3. Colour bars: every overlay is the image (unchanged at --alpha 0) with a bar below it; every
   contact-sheet tile has a bar (a gray ramp from black to white with --colormap gray).
4. --scale: stretch is the default; fixed draws a gate on 0..1 (the gray overlay is 255 * the
   upsampled PyTorch gate); maps with no natural range (energy) stay stretched; a bad value is a
   usage error.
5. Contact sheets of very thin and very wide images are laid out readably.
"""
import argparse
import io
import json
import os
import subprocess
import sys

import numpy as np

from pngio import png_read, png_size, png_write  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
FMNIST = os.path.join(ROOT, "assets", "images", "fmnist_0000_ankle_boot.png")
MODELS = os.path.join(ROOT, "assets", "models")
FORMATS = "PNG, JPEG, BMP, GIF, PNM (and TGA, PSD, HDR, PIC with --all-formats)"

results = []


def check(label, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def written(r):
    return [l.split(" ", 1)[1] for l in r.stdout.splitlines() if l.startswith("wrote ")]


def gray_ramps(row):
    """Runs of at least 40 pixels in an RGB row that are grey and rise from <= 8 to >= 247."""
    g = row.astype(int)
    grey = (g[:, 0] == g[:, 1]) & (g[:, 1] == g[:, 2])
    v = g[:, 0]
    n, x = 0, 0
    while x < len(v):
        if grey[x] and v[x] <= 8:
            y = x
            while y + 1 < len(v) and grey[y + 1] and v[y + 1] >= v[y]:
                y += 1
            if y - x + 1 >= 40 and v[y] >= 247:
                n += 1
            x = y + 1
        else:
            x += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    exe, w = args.visattn, args.workdir
    os.makedirs(w, exist_ok=True)
    if "backbone" not in run([exe, "list"]).stdout.split():
        print("SKIPPED: model 'backbone' is not registered in this build; nothing was checked")
        return 0
    cbam = os.path.join(MODELS, "cbam.safetensors")
    none = os.path.join(MODELS, "none.safetensors")
    if not (os.path.exists(cbam) and os.path.exists(none)):
        print("FAIL the trained models assets/models/{cbam,none}.safetensors are missing")
        return 1

    # ---- 1. EXIF orientation against Pillow ------------------------------------------------
    from PIL import Image, ImageOps
    yy, xx = np.mgrid[0:128, 0:192]
    pattern = np.stack([(xx // 32) * 40 + 20, (yy // 32) * 60 + 20,
                        255 - (xx // 32) * 20 - (yy // 32) * 30], -1).astype(np.uint8)
    out = os.path.join(w, "exif")
    for o in range(1, 9):
        jpg = os.path.join(w, f"orient{o}.jpg")
        exif = Image.Exif()
        exif[0x0112] = o
        Image.fromarray(pattern).save(jpg, "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
        with Image.open(jpg) as im:
            upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).astype(int)
        r = run([exe, "heatmap", jpg, "--model", cbam, "--out", out, "--stage", "1", "--alpha",
                 "0"])
        png = os.path.join(out, f"orient{o}_cbam_stage1.png")
        if r.returncode or not os.path.exists(png):
            check(f"EXIF orientation {o}: heatmap runs", False, r.stderr.strip())
            continue
        got = png_read(png).astype(int)
        h, wd = upright.shape[:2]
        part = got[:h, :wd]
        # visattn's and Pillow's JPEG decoding may differ a little: compare 16 x 16 block means.
        blocks = lambda a: a[:h // 16 * 16, :wd // 16 * 16].reshape(h // 16, 16, wd // 16, 16,
                                                                    3).mean((1, 3))
        diff = float(np.abs(blocks(part) - blocks(upright)).max()) if part.shape == upright.shape \
            else float("inf")
        check(f"EXIF orientation {o}: overlay {got.shape[1]} x {got.shape[0]} shows Pillow's "
              f"upright {wd} x {h} picture", got.shape[1] == wd and got.shape[0] > h and
              diff <= 4, f"largest 16x16 block difference {diff:.1f}")
    check("EXIF orientation 6: the overlay's width is the stored height (128, not 192)",
          png_size(os.path.join(out, "orient6_cbam_stage1.png"))[0] == 128)

    # ---- 2. Unknown format -------------------------------------------------------------------
    notes = os.path.join(w, "notes.jpg")
    with open(notes, "wb") as f:
        f.write(b"these are notes, not a picture\n" * 10)
    r = run([exe, "heatmap", notes, "--model", cbam, "--out", out])
    lines = r.stderr.strip().splitlines()
    check("unknown format: one line naming the file and listing the formats",
          r.returncode == 1 and len(lines) == 1 and "notes.jpg" in lines[0] and FORMATS in lines[0],
          r.stderr.strip())

    # ---- 3. Colour bars under overlays and under sheet tiles ---------------------------------
    img = png_read(FMNIST)
    img3 = np.repeat(img, 3, 2) if img.shape[2] == 1 else img[..., :3]
    out_b = os.path.join(w, "bars")
    r = run([exe, "heatmap", FMNIST, "--block", "cbam,none", "--out", out_b, "--stage", "3",
             "--colormap", "gray", "--alpha", "0"])
    check("--block cbam,none --colormap gray --alpha 0 runs", r.returncode == 0, r.stderr.strip())
    if r.returncode == 0:
        ov = png_read(os.path.join(out_b, "fmnist_0000_ankle_boot_cbam_stage3.png"))
        check("overlay: the image unchanged above a colour bar (alpha 0)",
              ov.shape[1] == 224 and ov.shape[0] > 224 and (ov[:224] == img3).all() and
              max(gray_ramps(ov[y]) for y in range(224, ov.shape[0])) == 1, f"{ov.shape}")
        sheet = png_read(os.path.join(out_b, "fmnist_0000_ankle_boot_contact.png"))
        ramps = max(gray_ramps(sheet[y]) for y in range(sheet.shape[0]))
        check("contact sheet: a colour bar under each of the 2 overlay tiles (none under the "
              "original)", ramps == 2, f"{ramps} bars on one row")

    # ---- 4. --scale ------------------------------------------------------------------------
    r = run([exe, "heatmap", FMNIST, "--model", cbam, "--out", out, "--scale", "loud"])
    check("--scale loud: a usage error (exit 2, one line)",
          r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--scale" in r.stderr,
          r.stderr.strip())
    outs = {}
    for mode in ("default", "stretch", "fixed"):
        d = os.path.join(w, f"scale_{mode}")
        extra = [] if mode == "default" else ["--scale", mode]
        r = run([exe, "heatmap", FMNIST, "--block", "cbam,none", "--out", d, "--stage", "3",
                 "--colormap", "gray", "--alpha", "1", "--save-input"] + extra)
        check(f"--scale {mode} runs", r.returncode == 0, r.stderr.strip())
        outs[mode] = d
    read = lambda mode, name: open(os.path.join(outs[mode], name), "rb").read()
    for name in ("fmnist_0000_ankle_boot_cbam_stage3.png", "fmnist_0000_ankle_boot_contact.png"):
        check(f"the default is stretch: {name} identical", read("default", name) ==
              read("stretch", name))
    check("fixed: the energy map of 'none' stays stretched (identical overlay)",
          read("fixed", "fmnist_0000_ankle_boot_none_stage3.png") ==
          read("stretch", "fmnist_0000_ankle_boot_none_stage3.png"))
    import torch
    import torch.nn.functional as F
    import backbone
    from safetensors_io import load_file
    weights, meta = load_file(cbam)
    tm = backbone.build(json.loads(meta["visattn.config"])).eval()
    tm.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
    x = np.load(os.path.join(outs["fixed"], "fmnist_0000_ankle_boot_cbam_input.npy"))
    with torch.no_grad():
        tm(torch.from_numpy(x))
    gate = backbone.maps(tm)["stage3.spatial"]
    up = F.interpolate(gate[:1, :1], size=(224, 224), mode="bilinear",
                       align_corners=False)[0, 0].numpy().astype(np.float64)
    got = png_read(os.path.join(outs["fixed"], "fmnist_0000_ankle_boot_cbam_stage3.png"))
    got = got[:224, :, 0].astype(np.float64)
    err_fixed = float(np.abs(got - np.rint(np.clip(up, 0, 1) * 255)).max())
    stretched = np.rint((up - up.min()) / (up.max() - up.min()) * 255)
    check("fixed: the cbam gate's gray overlay is 255 * the upsampled PyTorch gate",
          err_fixed <= 1 and float(np.abs(got - stretched).max()) > 20,
          f"max diff {err_fixed:.0f} grey levels; gate range {up.min():.3f}..{up.max():.3f}")

    # ---- 5. Thin and wide images ----------------------------------------------------------
    for wd, h in ((4, 1000), (1000, 4)):
        p = os.path.join(w, f"strip_{wd}x{h}.png")
        with open(p, "wb") as f:
            f.write(png_write((np.arange(wd * h).reshape(h, wd) * 7 % 256).astype(np.uint8)))
        d = os.path.join(w, f"strip_{wd}x{h}")
        r = run([exe, "heatmap", p, "--block", "cbam,none,se", "--out", d, "--stage", "1"])
        sheet = os.path.join(d, f"strip_{wd}x{h}_contact.png")
        size = png_size(sheet) if r.returncode == 0 and os.path.exists(sheet) else (0, 0)
        # Four columns (the original and three models) of tiles 112 to 224 pixels wide.
        check(f"{wd} x {h} image: a readable contact sheet", 4 * 112 <= size[0] <= 4 * 240 and
              112 <= size[1] <= 400, f"{size[0]} x {size[1]}; {r.stderr.strip()}")

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
