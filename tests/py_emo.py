#!/usr/bin/python3
"""The EMO networks in C (backbone/emo.c) against our PyTorch EMO (tools/emo.py), in float64.

For EMO_1M, EMO_2M, EMO_5M and EMO_6M at 1 x 3 x 224 x 224, EMO_1M at an odd 2 x 3 x 97 x 75, and
small "emo" configurations that reach the other options (SqueezeExcite in every stage, pre_head
with PReLU, LayerNorm and InstanceNorm stems, attention everywhere, attn_pre false, v_group):
random weights and BN statistics (randomize_), `visattn run --maps`, then the logits, every
attention map and the CAM (whose class must not be a near tie of two logits) within 1e-4 absolute and 1e-4 relative to the largest magnitude of the float64
reference; `visattn info`'s parameter count equal to sum(p.numel()). Then `visattn eval` on an
image folder: its class order, image list and count are torchvision's ImageFolder's, its inputs
the documented preprocessing, and its top-1 count the PyTorch EMO's. Prints one line per case.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import backbone  # noqa: E402
import emo  # noqa: E402
from export import export  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402
from pngio import png_write  # noqa: E402

TOL = 1e-4
SMALL = dict(depths=[1, 2, 2, 2], stem_dim=8, embed_dims=[8, 16, 16, 24], dim_heads=[4, 8, 8, 8],
             window_sizes=[3, 3, 4, 4], exp_ratios=[2., 2., 2., 1.5])
CASES = [
    ("EMO_1M", {}, (1, 3, 224, 224)),
    ("EMO_2M", {}, (1, 3, 224, 224)),
    ("EMO_5M", {}, (1, 3, 224, 224)),
    ("EMO_6M", {}, (1, 3, 224, 224)),
    ("EMO_1M", {}, (2, 3, 97, 75)),
    ("emo", dict(SMALL, se_ratios=[0.25, 0.5, 0.25, 0.125], pre_dim=32,
                 act_layers=["prelu", "relu", "mish", "prelu"], num_classes=7), (2, 3, 45, 38)),
    ("emo", dict(SMALL, norm_layers=["ln_2d", "in_2d", "bn_2d", "ln_2d"],
                 attn_ss=[True, True, True, True], attn_pre=False, v_group=True, dim_in=1,
                 num_classes=5, act_layers=["hswish", "tanh", "gelu", "silu"]), (1, 1, 33, 52)),
    ("EMO_1M", dict(num_classes=10, dim_in=1, img_size=64), (2, 1, 64, 64)),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(1)
    failed = 0
    for i, (variant, config, shape) in enumerate(CASES):
        label = f"{variant} {json.dumps(config)} {'x'.join(map(str, shape))}"
        module = randomize_(emo.build(config, variant), 100 + i)
        base = os.path.join(args.workdir, f"case{i}")
        mdir = base + "_maps"
        os.makedirs(mdir, exist_ok=True)
        for f in os.listdir(mdir):
            os.remove(os.path.join(mdir, f))
        export(module, base + ".safetensors", model=variant, config=config)
        torch.manual_seed(i)
        x = torch.randn(*shape)
        np.save(base + "_in.npy", x.numpy())
        r = subprocess.run([args.visattn, "run", base + ".safetensors", base + "_in.npy",
                            base + "_out.npy", "--maps", mdir], capture_output=True, text=True)
        problems = []
        if r.returncode != 0:
            problems.append(f"visattn run: {r.stderr.strip()}")
        else:
            module.double()
            with torch.no_grad():
                want = {"output": module(x.double()).numpy()}
            want.update({k: v.numpy() for k, v in emo.maps(module).items()})
            got = {"output": np.load(base + "_out.npy")}
            got.update({f[:-4]: np.load(os.path.join(mdir, f)) for f in os.listdir(mdir)})
            if sorted(got) != sorted(want):
                problems.append(f"maps {sorted(got)} != {sorted(want)}")
            # The CAM's class must not be a near tie (docs/testing.md).
            if "cam" in want and backbone.cam_tie_problem(want["output"]):
                problems.append(backbone.cam_tie_problem(want["output"]))
            worst = 0.0
            for k, v in want.items():
                if k not in got or got[k].shape != v.shape:
                    problems.append(f"{k}: shape")
                    continue
                err = float(np.abs(got[k] - v).max())
                rel = err / max(float(np.abs(v).max()), 1e-30)
                worst = max(worst, err)
                if err > TOL or rel > TOL:
                    problems.append(f"{k}: max abs err {err:.2e}, rel {rel:.2e}")
            info = subprocess.run([args.visattn, "info", base + ".safetensors", "--shape",
                                   ",".join(map(str, shape))], capture_output=True, text=True)
            params = sum(p.numel() for p in module.parameters())
            got_params = json.loads(info.stdout)["params"] if info.returncode == 0 else None
            if got_params != params:
                problems.append(f"params {got_params} != PyTorch {params}")
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {label}: " +
              ("; ".join(problems) if problems else
               f"{len(want) - 1} maps, max abs err {worst:.2e}, {params} params"), flush=True)
    failed += check_converter(args)
    failed += check_eval_folder(args)
    print(f"{len(CASES) + 2 - failed} passed, {failed} failed")
    return 1 if failed else 0


def check_converter(args):
    """tools/convert_emo.py on a checkpoint laid out as EMO's trainer saves one (under 'net', with
    DataParallel's 'module.' prefix): the converted file must run to the same logits."""
    config = {"num_classes": 10}
    module = randomize_(emo.build(config, "EMO_1M"), 7)
    ckpt = os.path.join(args.workdir, "net.pth")
    torch.save({"net": {"module." + k: v for k, v in module.state_dict().items()}}, ckpt)
    out = os.path.join(args.workdir, "converted.safetensors")
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "convert_emo.py"), ckpt,
                        "EMO_1M", out, "--config", json.dumps(config)], capture_output=True,
                       text=True)
    problems = [] if r.returncode == 0 else [f"convert_emo: {r.stderr.strip()[-300:]}"]
    if not problems:
        torch.manual_seed(0)
        x = torch.randn(1, 3, 64, 80)
        np.save(os.path.join(args.workdir, "conv_in.npy"), x.numpy())
        r = subprocess.run([args.visattn, "run", out, os.path.join(args.workdir, "conv_in.npy"),
                            os.path.join(args.workdir, "conv_out.npy")], capture_output=True,
                           text=True)
        if r.returncode != 0:
            problems.append(f"visattn run: {r.stderr.strip()}")
        else:
            module.double()
            with torch.no_grad():
                want = module(x.double()).numpy()
            err = float(np.abs(np.load(os.path.join(args.workdir, "conv_out.npy")) - want).max())
            if err > TOL:
                problems.append(f"max abs err {err:.2e}")
    # The one converter for every network takes EMO too: export.py --network EMO:EMO_1M.
    if not problems:
        out2 = os.path.join(args.workdir, "exported.safetensors")
        r = subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "export.py"),
                            "--network", "EMO:EMO_1M", "--config", json.dumps(config), "--weights",
                            ckpt, "--out", out2], capture_output=True, text=True)
        r2 = subprocess.run([args.visattn, "run", out2, os.path.join(args.workdir, "conv_in.npy"),
                             os.path.join(args.workdir, "exp_out.npy")], capture_output=True,
                            text=True) if r.returncode == 0 else r
        if r.returncode != 0 or r2.returncode != 0:
            problems.append(f"export.py --network EMO:EMO_1M: {(r2.stderr or r.stderr).strip()}")
        elif not np.array_equal(np.load(os.path.join(args.workdir, "exp_out.npy")),
                                np.load(os.path.join(args.workdir, "conv_out.npy"))):
            problems.append("export.py --network EMO:EMO_1M gives other logits than convert_emo")
    # A checkpoint of another variant is refused by the converter, naming keys.
    bad = subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "convert_emo.py"),
                          ckpt, "EMO_2M", out + ".bad"], capture_output=True, text=True)
    if bad.returncode == 0 or "keys" not in bad.stderr:
        problems.append("a checkpoint of another variant was not refused")
    print(f"{'FAIL' if problems else 'ok  '} convert_emo.py net.pth (under 'net', 'module.' "
          f"prefix) -> visattn: " + ("; ".join(problems) if problems else "same logits"))
    return bool(problems)


def check_eval_folder(args):
    """`visattn eval MODEL FOLDER` against torchvision's ImageFolder and the PyTorch EMO."""
    import shutil
    import torch.nn.functional as F
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
    config = {"num_classes": 5, "img_size": 96}
    module = randomize_(emo.build(config, "EMO_1M"), 11).double()
    model = os.path.join(args.workdir, "eval_emo.safetensors")
    root = os.path.join(args.workdir, "eval_folder")
    shutil.rmtree(root, ignore_errors=True)
    # Four class folders, one of them empty, one with a nested folder whose name sorts between two
    # file names; upper-case extensions; a text file (skipped); images of other sizes (resized).
    rng = np.random.default_rng(5)
    names = ["b_cls", "a_cls", "c-empty", "a_cls/sub", "a_cls/sub-x", "a_cls/sub/deeper", "d"]
    for d in names:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    files = [("a_cls/z.png", 96, 96), ("a_cls/sub/m.PNG", 96, 96), ("a_cls/sub-x/k.png", 70, 130),
             ("a_cls/sub/deeper/j.png", 96, 96),
             ("a_cls/a.png", 96, 96), ("b_cls/1.png", 120, 96), ("b_cls/0.png", 96, 96),
             ("b_cls/2.png", 96, 96), ("d/q.png", 96, 96), ("d/p.png", 51, 96)]
    pixels = {}
    for f, h, w in files:
        path = os.path.join(root, f)
        pixels[path] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        with open(path, "wb") as f:
            f.write(png_write(pixels[path]))
    with open(os.path.join(root, "d", "notes.txt"), "w") as f:
        f.write("not an image\n")
    # torchvision's own listing. Its make_dataset refuses an empty class folder, so it is given
    # the class index of find_classes without the empty class (which keeps its index, unused).
    ds_classes, class_to_idx = find_classes(root)
    ds_samples = make_dataset(root, {c: i for c, i in class_to_idx.items() if c != "c-empty"},
                              extensions=IMG_EXTENSIONS)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    inputs = []
    for path, _ in ds_samples:
        x = torch.from_numpy(pixels[path].transpose(2, 0, 1).copy()).float()[None] / 255
        x = F.interpolate(x, size=(96, 96), mode="bilinear", align_corners=False)
        inputs.append((x.double() - mean) / std)
    x = torch.cat(inputs)
    with torch.no_grad():
        # A random-weight EMO gives every image one class: centre the logits over these images
        # with the head's bias and spread them with its weights, so that the top-1 classes
        # differ and no two are near a tie.
        module.head.bias -= module(x).reshape(len(x), -1).mean(0)
        spread = 10 / float(module(x).std())
        module.head.weight *= spread
        module.head.bias *= spread
        export(module.float(), model, model="EMO_1M", config=config)
        logits = module.double()(x).reshape(len(x), -1).numpy()  # as exported, in float64
    preds = [int(v) for v in logits.argmax(1)]
    problems = [f"image {i}: {backbone.cam_tie_problem(v[None])}" for i, v in enumerate(logits)
                if backbone.cam_tie_problem(v[None])]

    def expect(limit):
        s = ds_samples[:limit]
        return sum(p == lab for p, (_, lab) in zip(preds, s)), len(s)

    csv = os.path.join(args.workdir, "eval_predictions.csv")
    for limit in (None, 5):
        cmd = [args.visattn, "eval", model, root, "--batch", "3", "--predictions", csv]
        if limit:
            cmd += ["--limit", str(limit)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        c, n = expect(limit or len(ds_samples))
        want = f"{model}: {c}/{n} correct"
        if r.returncode != 0 or want not in r.stdout:
            problems.append(f"limit {limit}: got '{r.stdout.strip()}' {r.stderr.strip()} "
                            f"(exit {r.returncode}), want '{want}'")
        if "skipped 1 file" not in r.stderr:
            problems.append(f"the text file was not reported as skipped: {r.stderr.strip()}")
        with open(csv) as f:
            rows = [line.rstrip("\n").split(",") for line in f][1:]
        want_rows = [[p, str(lab), str(t)] for (p, lab), t in zip(ds_samples[:limit], preds)]
        if rows != want_rows:
            problems.append(f"limit {limit}: --predictions {rows} != ImageFolder and PyTorch "
                            f"{want_rows}")
    # An unreadable image is named, left out, and makes the exit status 1.
    with open(os.path.join(root, "d", "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8 not really a JPEG")
    r = subprocess.run([args.visattn, "eval", model, root], capture_output=True, text=True)
    c, n = expect(len(ds_samples))
    if (r.returncode != 1 or "broken.jpg" not in r.stderr or "1 image could not be read"
            not in r.stderr or f"{c}/{n} correct" not in r.stdout):
        problems.append(f"broken image: exit {r.returncode}, '{r.stdout.strip()}', "
                        f"'{r.stderr.strip()}'")
    # More class folders than the model has classes: refused.
    for k in range(3):
        os.makedirs(os.path.join(root, f"z{k}"), exist_ok=True)
    r = subprocess.run([args.visattn, "eval", model, root], capture_output=True, text=True)
    if r.returncode != 1 or "7 class folders but" not in r.stderr:
        problems.append(f"too many classes: exit {r.returncode}, '{r.stderr.strip()}'")
    print(f"{'FAIL' if problems else 'ok  '} visattn eval on an image folder ({len(ds_classes)} "
          f"classes {ds_classes}, {len(ds_samples)} images): " +
          ("; ".join(problems) if problems else "ImageFolder's order, PyTorch's top-1 count"))
    return bool(problems)


if __name__ == "__main__":
    sys.exit(main())
