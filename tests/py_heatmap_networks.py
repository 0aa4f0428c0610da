#!/usr/bin/python3
"""`visattn heatmap` on network models (tools/export.py --network files), end to end.

1. Preprocessing: the input heatmap builds (--save-input) from PNGs of odd sizes (landscape,
   portrait, one smaller than the crop) equals torchvision's eval transform on the same pixels as
   a tensor (Resize(256, antialias=True), CenterCrop(224), Normalize) within 1e-4, and the PIL
   pipeline users run (Resize on a PIL image) within PIL's 8-bit rounding.
2. Maps: resnet18 + cbam writes stage1..4 (each stage's last block's spatial map) and the CAM;
   --maps block writes every block's map; the CAM's PNG covers the centre crop (its width is the
   crop's in image pixels); the predicted class printed is PyTorch's top-1 on the same input, by
   its ImageNet name. mobilenet_v3_small (SE only: channel gates) writes the CAM alone.
3. A torchvision checkpoint on disk (a state_dict under 'state_dict', keys prefixed 'module.')
   goes through the documented commands (tools/export.py --weights, visattn heatmap) to a CAM PNG
   naming PyTorch's predicted class.
4. Bad input: class names that do not fit the classes, a resize smaller than the crop, metadata
   that is not JSON, a block file, --stage past the last stage: one line naming the file and the
   problem, non-zero exit; --maps with a bad value: usage error.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np
import torch

from pngio import png_size, png_write

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import networks  # noqa: E402
from export import export, network_meta  # noqa: E402
from export import main as export_main  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

results = []


def check(label, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + detail if detail else ''}", flush=True)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def one_line(r, *needles):
    lines = r.stderr.strip().splitlines()
    return r.returncode != 0 and len(lines) == 1 and all(n in lines[0] for n in needles)


def test_image(w, h, seed):
    """Smooth colour gradients plus noise: something to resize that is not constant."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(xx / 17.0 + c) * np.cos(yy / 23.0 - c) for c in range(3)],
                   axis=2)
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


def torchvision_input(img, resize=256, crop=224):
    import torchvision.transforms.functional as TF
    x = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    x = TF.resize(x, resize, antialias=True)
    x = TF.center_crop(x, crop)
    return TF.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])[None]


def pil_input(img):
    from PIL import Image
    from torchvision import transforms as T
    t = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                   T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return t(Image.fromarray(img))[None]


def crop_width(w, h, resize=256, crop=224):
    """The centre crop's width in image pixels, as va_preprocess_region maps it back."""
    short, long_ = min(w, h), max(w, h)
    nl = int(resize * long_ / short)
    nw = resize if w <= h else nl
    left = int(round((nw - crop) / 2.0))
    s = w / nw
    return int(np.floor((left + crop) * s + 0.5)) - int(np.floor(left * s + 0.5))


def top5_names(stdout):
    m = re.search(r"top-5: (.*)$", stdout, re.M)
    return [p.rsplit(" ", 1)[0] for p in m.group(1).split(", ")] if m else []


def make_model(path, builder, config, seed):
    model = randomize_(networks.build("torchvision", builder, config), seed)
    export(model, path, model=builder, config=config,
           extra_meta=network_meta("torchvision", builder, config))
    return model


def predicted(model, npy):
    with torch.no_grad():
        logits = model.double()(torch.from_numpy(np.load(npy)).double())
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    return _IMAGENET_CATEGORIES[int(logits.argmax())]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    exe, wd = args.visattn, args.workdir
    os.makedirs(wd, exist_ok=True)
    torch.set_num_threads(2)

    cbam = os.path.join(wd, "resnet18_cbam.safetensors")
    model = make_model(cbam, "resnet18", {"attention": "cbam"}, 7)

    # 1. Preprocessing.
    for w, h in ((517, 300), (263, 401), (150, 120), (224, 224)):
        img = test_image(w, h, w * h)
        png = os.path.join(wd, f"img_{w}x{h}.png")
        with open(png, "wb") as f:
            f.write(png_write(img))
        out = os.path.join(wd, f"out_{w}x{h}")
        r = run([exe, "heatmap", png, "--model", cbam, "--out", out, "--save-input"])
        npy = os.path.join(out, f"img_{w}x{h}_resnet18_cbam_input.npy")
        if r.returncode != 0 or not os.path.exists(npy):
            check(f"{w}x{h}: heatmap --save-input", False, r.stderr.strip())
            continue
        got = np.load(npy)
        want = torchvision_input(img).numpy()
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        check(f"{w}x{h}: input = torchvision Resize(256, antialias) + CenterCrop(224) + Normalize",
              err <= 1e-4, f"shape {got.shape}, max abs err {err:.2e}")
        perr = float(np.abs(got - pil_input(img).numpy()).max())
        # PIL resizes in two 8-bit passes: each rounds by up to half a level, over std 0.225.
        check(f"{w}x{h}: input = the PIL pipeline up to its 8-bit rounding", perr <= 2.5 / 255 / 0.225,
              f"max abs err {perr:.4f}")
        if (w, h) == (517, 300):
            names = sorted(f for f in os.listdir(out) if f.endswith(".png"))
            want_names = [f"img_517x300_resnet18_cbam_{t}.png"
                          for t in ("cam", "stage1", "stage2", "stage3", "stage4")]
            check("resnet18 + cbam: stage1..4 and the CAM written", names == want_names,
                  f"{names}")
            cw, ch = png_size(os.path.join(out, "img_517x300_resnet18_cbam_cam.png"))
            check("the CAM covers the centre crop (its width in image pixels)",
                  cw == crop_width(517, 300), f"{cw} x {ch}, crop width {crop_width(517, 300)}")
            top = top5_names(r.stdout)
            want_top = predicted(model, npy)
            check("the class printed is PyTorch's top-1 on the same input, by name",
                  top[:1] == [want_top], f"printed {top[:1]}, PyTorch {want_top!r}")
            rb = run([exe, "heatmap", png, "--model", cbam, "--out", out + "_b", "--maps",
                      "block"])
            got_b = sorted(f for f in os.listdir(out + "_b")) if rb.returncode == 0 else []
            want_b = sorted([f"img_517x300_resnet18_cbam_layer{i}.{j}.spatial.png"
                             for i in range(1, 5) for j in range(2)] +
                            ["img_517x300_resnet18_cbam_cam.png"])
            check("--maps block: every block's spatial map and the CAM", got_b == want_b,
                  rb.stderr.strip() or f"{len(got_b)} files")
            rs = run([exe, "heatmap", png, "--model", cbam, "--out", out + "_s", "--stage", "5"])
            check("--stage 5 of 4: one line", one_line(rs, cbam, "--stage 5", "4 stages"),
                  rs.stderr.strip())

    # SE only: nothing spatial to draw but the CAM.
    mnv3 = os.path.join(wd, "mnv3s.safetensors")
    make_model(mnv3, "mobilenet_v3_small", {}, 8)
    png = os.path.join(wd, "img_517x300.png")
    out = os.path.join(wd, "out_mnv3")
    r = run([exe, "heatmap", png, "--model", mnv3, "--out", out])
    got = sorted(os.listdir(out)) if r.returncode == 0 else []
    check("mobilenet_v3_small (SE gates only): the CAM alone, top-5 printed",
          got == ["img_517x300_mobilenet_v3_small_cam.png"] and len(top5_names(r.stdout)) == 5,
          r.stderr.strip() or f"{got}")

    # 3. A torchvision checkpoint on disk, through the documented commands.
    import torchvision
    torch.manual_seed(3)
    tv = randomize_(torchvision.models.resnet18(), 9).eval()
    ckpt = os.path.join(wd, "resnet18_user.pth")
    torch.save({"epoch": 90, "state_dict": {"module." + k: v for k, v in tv.state_dict().items()}},
               ckpt)
    user = os.path.join(wd, "resnet18_user.safetensors")
    rc = export_main(["--network", "torchvision:resnet18", "--weights", ckpt, "--out", user])
    out = os.path.join(wd, "out_user")
    r = run([exe, "heatmap", png, "--model", user, "--out", out, "--save-input"])
    ok = rc == 0 and r.returncode == 0 and os.path.exists(
        os.path.join(out, "img_517x300_resnet18_cam.png"))
    top = top5_names(r.stdout)
    want_top = predicted(tv, os.path.join(out, "img_517x300_resnet18_input.npy")) if ok else None
    check("a torchvision checkpoint -> export.py --weights -> heatmap: CAM PNG, class named",
          ok and top[:1] == [want_top], r.stderr.strip() or f"printed {top[:1]}, PyTorch "
          f"{want_top!r}")

    # 4. Bad input.
    from safetensors_io import load_file, save_file
    tensors, _ = load_file(cbam)
    base_meta = {"visattn.model": "resnet18", "visattn.config": json.dumps({"attention": "cbam"})}
    bad = [
        ({"visattn.class_names": json.dumps(["a"] * 999)}, ("visattn.class_names", "1000")),
        ({"visattn.resize": "100"}, ("visattn.resize", "smaller than the input size")),
        ({"visattn.mean": "[0.5, 0.5"}, ("visattn.mean", "not JSON")),
        ({"visattn.std": "[0.2, 0.0, 0.2]"}, ("visattn.std", "positive")),
        ({"visattn.input_size": "[224]"}, ("visattn.input_size",)),
    ]
    for i, (meta, needles) in enumerate(bad):
        f = os.path.join(wd, f"bad{i}.safetensors")
        save_file(tensors, f, metadata={**base_meta, **meta})
        r = run([exe, "heatmap", png, "--model", f, "--out", os.path.join(wd, "out_bad")])
        check(f"metadata {list(meta)[0]} bad: one line", one_line(r, f, *needles),
              r.stderr.strip())
    block = os.path.join(wd, "cbam_block.safetensors")
    import visattn_ref
    export(visattn_ref.load("cbam").build({"gate_channels": 8}), block, block="cbam",
           config={"gate_channels": 8})
    r = run([exe, "heatmap", png, "--model", block, "--out", os.path.join(wd, "out_bad")])
    check("a block file: one line", one_line(r, block, "not a classifier"), r.stderr.strip())
    r = run([exe, "heatmap", png, "--model", cbam, "--maps", "all"])
    check("--maps all: usage error", r.returncode == 2 and "--maps" in r.stderr, r.stderr.strip())

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
