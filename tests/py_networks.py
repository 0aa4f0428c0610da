#!/usr/bin/python3
"""The ResNets in C (backbone/resnet.c on the network engine backbone/net.c) against torchvision.

Cases: torchvision's resnet18 and resnet50 at 2 x 3 x 224 x 224, resnet101 and resnet152 at a
reduced 2 x 3 x 64 x 64 (to keep the suite short: the layers are the same, fewer positions),
resnext50_32x4d and wide_resnet50_2 at 1 x 3 x 96 x 96, resnet50 with an SE and a CBAM slot
(tools/networks.py: torchvision's model with our reference block inserted, timm's "se" key) at
1 x 3 x 224 x 224, and the generic "resnet" with dilation and a shuffle slot under another key;
resnet50 with an eca slot (k_size 5) at 2 x 3 x 64 x 64, and small generic ResNets with simam
(2 x 3 x 67 x 45) and bam (2 x 3 x 57 x 63) slots.
Each: random weights and BN statistics (randomize_), `visattn run --maps`, the logits within
1e-3 absolute and 1e-4 relative to the largest logit of the float64 reference, every attention
and energy map within 1e-4 (absolute and relative), the CAM within the logits' bounds, `visattn info`'s params equal to sum(p.numel()) and its MACs to the
convs' and Linear's. Then bad inputs, each one line naming the file and the key: checkpoints of
another architecture, with a key missing, with a wrong shape, truncated, not a state_dict
(tools/export.py --weights); model files of another architecture, with a wrong shape, truncated
(visattn run). And the checkpoint forms export.py accepts. Prints one line per check.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "tools")
sys.path.insert(0, TOOLS)
import backbone  # noqa: E402
import networks  # noqa: E402
from export import export  # noqa: E402
from export import main as export_main  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

LOGIT_ABS, LOGIT_REL, MAP_TOL = 1e-3, 1e-4, 1e-4
CASES = [
    ("resnet18", {}, (2, 3, 224, 224)),
    ("resnet50", {}, (2, 3, 224, 224)),
    ("resnet101", {}, (2, 3, 64, 64)),
    ("resnet152", {}, (2, 3, 64, 64)),
    ("resnext50_32x4d", {"num_classes": 10}, (1, 3, 96, 96)),
    ("wide_resnet50_2", {}, (1, 3, 96, 96)),
    ("resnet50", {"attention": "se"}, (1, 3, 224, 224)),
    ("resnet50", {"attention": "cbam", "attention_args": {"reduction_ratio": 16}},
     (1, 3, 224, 224)),
    ("resnet", {"block": "Bottleneck", "layers": [1, 2, 1, 2], "num_classes": 7,
                "replace_stride_with_dilation": [False, True, True], "attention": "shuffle",
                "attention_key": "sa", "groups": 2, "width_per_group": 32}, (2, 3, 72, 56)),
    ("resnet", {"block": "BasicBlock", "layers": [1, 1, 2, 1], "num_classes": 5,
                "attention": "triplet"}, (1, 3, 61, 47)),
    # Issue 15's blocks in the slot: ECA-Net's and SimAM's ResNets, BAM at every block.
    ("resnet50", {"attention": "eca", "attention_args": {"k_size": 5}}, (2, 3, 64, 64)),
    ("resnet", {"block": "BasicBlock", "layers": [1, 1, 1, 1], "num_classes": 6,
                "attention": "simam", "attention_args": {"e_lambda": 1e-3}}, (2, 3, 67, 45)),
    ("resnet", {"block": "Bottleneck", "layers": [1, 1, 1, 1], "num_classes": 4,
                "attention": "bam"}, (2, 3, 57, 63)),
]


def count_macs(model):
    """Hooks adding up the MACs of every conv and Linear a forward runs (fvcore's convention,
    docs/cost.md): returns the running total (a one-item list) and the hooks' handles."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            k = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            total[0] += out.numel() * k
        elif isinstance(m, torch.nn.Conv1d):  # ECA's conv along the channels
            total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0]
        else:
            total[0] += out.numel() * m.in_features

    return total, [m.register_forward_hook(hook) for m in model.modules()
                   if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv1d, torch.nn.Linear))]


def run_case(args, i, builder, config, shape, source="torchvision"):
    model = randomize_(networks.build(source, builder, config), 200 + i)
    base = os.path.join(args.workdir, f"case{i}")
    mdir = base + "_maps"
    os.makedirs(mdir, exist_ok=True)
    for f in os.listdir(mdir):
        os.remove(os.path.join(mdir, f))
    export(model, base + ".safetensors", model=networks.model_name(source, builder),
           config=config)
    torch.manual_seed(i)
    x = torch.randn(*shape)
    np.save(base + "_in.npy", x.numpy())
    r = subprocess.run([args.visattn, "run", base + ".safetensors", base + "_in.npy",
                        base + "_out.npy", "--maps", mdir], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"visattn run: {r.stderr.strip()}"], ""
    problems = []
    model.double()
    macs, hooks = count_macs(model)
    with torch.no_grad():
        logits = model(x.double())
    for h in hooks:
        h.remove()
    macs = macs[0]
    want = {k: v.numpy() for k, v in networks.maps(model, logits).items()}
    got = {f[:-4]: np.load(os.path.join(mdir, f)) for f in os.listdir(mdir)}
    if sorted(got) != sorted(want):
        problems.append(f"maps {sorted(got)} != {sorted(want)}")
    if backbone.cam_tie_problem(logits.numpy()):
        problems.append(backbone.cam_tie_problem(logits.numpy()))
    out = np.load(base + "_out.npy").reshape(logits.shape)
    lerr = float(np.abs(out - logits.numpy()).max())
    lrel = lerr / float(np.abs(logits.numpy()).max())
    if lerr > LOGIT_ABS or lrel > LOGIT_REL:
        problems.append(f"logits: max abs err {lerr:.2e}, rel {lrel:.2e}")
    worst = 0.0
    for k, v in want.items():
        if k not in got or got[k].shape != v.shape:
            problems.append(f"{k}: shape {got[k].shape if k in got else None} != {v.shape}")
            continue
        err = float(np.abs(got[k] - v).max())
        rel = err / max(float(np.abs(v).max()), 1e-30)
        worst = max(worst, rel)
        # The CAM is the head's product, of the logits' magnitude: held to the logits' bounds.
        if err > (LOGIT_ABS if k == "cam" else MAP_TOL) or rel > MAP_TOL:
            problems.append(f"{k}: max abs err {err:.2e}, rel {rel:.2e}")
    info = subprocess.run([args.visattn, "info", base + ".safetensors", "--shape",
                           ",".join(map(str, shape))], capture_output=True, text=True)
    got_info = json.loads(info.stdout) if info.returncode == 0 else {}
    params = sum(p.numel() for p in model.parameters())
    if got_info.get("params") != params:
        problems.append(f"params {got_info.get('params')} != PyTorch {params}")
    if got_info.get("macs") != macs:
        problems.append(f"macs {got_info.get('macs')} != PyTorch's convs and Linear {macs}")
    return problems, (f"logits max abs err {lerr:.2e} (rel {lrel:.2e}), {len(want)} maps (worst "
                      f"rel {worst:.2e}), {params} params, {macs} MACs")


def converted_problem(args, path, model, x):
    """'' if `visattn run` of the model file `path` on x gives model's float64 logits within
    LOGIT_ABS, else the problem. Leaves model in float64."""
    xin, xout = os.path.join(args.workdir, "ck_in.npy"), os.path.join(args.workdir, "ck_out.npy")
    np.save(xin, x.numpy())
    r = subprocess.run([args.visattn, "run", path, xin, xout], capture_output=True, text=True)
    with torch.no_grad():
        want = model.double()(x.double()).numpy()
    if r.returncode != 0:
        return f"visattn run: {r.stderr.strip()}"
    err = float(np.abs(np.load(xout).reshape(want.shape) - want).max())
    if err > LOGIT_ABS:
        return f"the converted checkpoint gives other logits (max abs err {err:.2e})"
    return ""


def setup(doc):
    """The command line every network test takes (--visattn, --workdir); the workdir made."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--visattn", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(2)
    return args


QUICK = os.environ.get("VISATTN_TESTS_QUICK") == "1"


def run_cases(args, cases, first_seed, source="torchvision", quick=None):
    """run_case for each (builder, config, shape), seeded first_seed, first_seed + 1, ...; one line
    each. Returns the number that failed. With VISATTN_TESTS_QUICK=1 (scripts/test.sh sets it for
    the second OpenBLAS kernel and the sanitizer build, docs/testing.md) only the cases whose
    indices `quick` lists: small inputs that still take every layer kind of the family.
    Returns (failed, run)."""
    failed = run = 0
    if QUICK and quick is not None:
        print(f"VISATTN_TESTS_QUICK=1: {len(quick)} of the {len(cases)} cases", flush=True)
    for i, (builder, config, shape) in enumerate(cases):
        if QUICK and quick is not None and i not in quick:
            continue
        run += 1
        problems, summary = run_case(args, first_seed + i, builder, config, shape, source)
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {builder} {json.dumps(config)} "
              f"{'x'.join(map(str, shape))}: " + ("; ".join(problems) if problems else summary),
              flush=True)
    return failed, run


def refused(args, bad):
    """Each (builder, config, needles) written as a model file (with no weights that matter) and
    run: the problems, where visattn did not refuse it in one line naming the builder and every
    needle."""
    problems = []
    x = os.path.join(args.workdir, "bad_in.npy")
    np.save(x, np.zeros((1, 3, 32, 32), np.float32))
    for builder, config, needles in bad:
        f = os.path.join(args.workdir, f"bad_{builder}.safetensors")
        export(torch.nn.Linear(1, 1), f, model=builder, config=config)
        r = subprocess.run([args.visattn, "run", f, x, os.path.join(args.workdir, "bad_out.npy")],
                           capture_output=True, text=True)
        p = one_line(r, builder, *needles)
        if p:
            problems.append(f"{builder} {json.dumps(config)}: {p}")
    return problems


def exports(args, network, config):
    """'' if tools/export.py --network writes the file, else the problem."""
    out = os.path.join(args.workdir, "export_cli.safetensors")
    r = export_cli("--network", network, "--config", json.dumps(config), "--out", out)
    if r.returncode != 0 or not os.path.exists(out):
        return f"export.py --network {network}: {r.stderr.strip()}"
    return ""


def export_cli(*argv, in_process=True):
    """tools/export.py's command line; in this process (its main()) unless asked otherwise, to
    spare the suite a torch start-up per call."""
    if not in_process:
        return subprocess.run([sys.executable, os.path.join(TOOLS, "export.py"), *argv],
                              capture_output=True, text=True)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = export_main(list(argv))
    return subprocess.CompletedProcess(argv, rc, "", err.getvalue())


def one_line(r, *needles):
    """'' if r failed with one stderr line containing every needle, else the problem."""
    lines = r.stderr.strip().splitlines()
    if r.returncode == 0 or len(lines) != 1 or not all(n in lines[0] for n in needles):
        return f"exit {r.returncode}, stderr {r.stderr.strip()!r}, wanted one line with {needles}"
    return ""


def check_checkpoints(args):
    """export.py --weights: the forms it accepts, and the checkpoints it refuses."""
    w = args.workdir
    model = randomize_(networks.build("torchvision", "resnet18", {}), 5)
    sd = model.state_dict()
    problems = []
    # Accepted: under 'state_dict', DataParallel's prefix, thop's buffers; no num_batches_tracked.
    wrapped = {"module." + k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    wrapped["module.total_ops"] = torch.zeros(1, dtype=torch.float64)
    wrapped["module.conv1.total_params"] = torch.zeros(1, dtype=torch.float64)
    ckpt = os.path.join(w, "wrapped.pth")
    torch.save({"epoch": 3, "state_dict": wrapped}, ckpt)
    out = os.path.join(w, "from_ckpt.safetensors")
    r = export_cli("--network", "torchvision:resnet18", "--weights", ckpt, "--out", out,
                   in_process=False)
    if r.returncode != 0 or "under 'state_dict'" not in r.stderr or "'module.'" not in r.stderr \
            or "2 thop buffers" not in r.stderr:
        problems.append(f"wrapped checkpoint: exit {r.returncode}, {r.stderr.strip()!r}")
    else:
        torch.manual_seed(50)
        p = converted_problem(args, out, model, torch.randn(1, 3, 64, 64))
        if p:
            problems.append(p)
        model.float()
    # Refused, one line naming the file and the key.
    plain = os.path.join(w, "resnet18.pth")
    torch.save(sd, plain)
    missing = os.path.join(w, "missing.pth")
    torch.save({"model": {k: v for k, v in sd.items() if k != "layer2.0.bn1.running_var"}},
               missing)
    shaped = os.path.join(w, "shaped.pth")
    torch.save(dict(sd, **{"fc.weight": sd["fc.weight"][:10]}), shaped)
    truncated = os.path.join(w, "truncated.pth")
    with open(plain, "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[:len(data) // 2])
    other = os.path.join(w, "other.pth")
    torch.save({"weights": sd, "epoch": 3}, other)
    bad = [(plain, "torchvision:resnet34", ("layer1.2.conv1.weight", "missing")),
           (plain, "torchvision:resnet50", ("layer1.0.conv1.weight", "shape")),
           (missing, "torchvision:resnet18", ("layer2.0.bn1.running_var", "missing")),
           (shaped, "torchvision:resnet18", ("fc.weight", "(10, 512)")),
           (truncated, "torchvision:resnet18", ("not a checkpoint torch.load can read",)),
           (other, "torchvision:resnet18", ("not a state_dict", "'weights'"))]
    for path, net, needles in bad:
        r = export_cli("--network", net, "--weights", path, "--out", os.path.join(w, "x.st"))
        p = one_line(r, path, *needles)
        if p:
            problems.append(f"{os.path.basename(path)} as {net}: {p}")
    print(f"{'FAIL' if problems else 'ok  '} export.py --weights: a wrapped checkpoint converts "
          f"to the same logits; {len(bad)} bad checkpoints refused: " +
          ("; ".join(problems) if problems else "one line each naming file and key"), flush=True)
    return bool(problems)


def check_model_files(args):
    """visattn run on model files that do not fit their metadata: one line naming file and key."""
    from safetensors_io import save_file
    from export import state_dict_arrays
    w = args.workdir
    x = os.path.join(w, "bad_in.npy")
    np.save(x, np.zeros((1, 3, 32, 32), np.float32))
    arrays = state_dict_arrays(networks.build("torchvision", "resnet18", {"num_classes": 10}))
    problems = []
    cases = []
    f = os.path.join(w, "r18_as_r34.safetensors")
    save_file(arrays, f, metadata={"visattn.model": "resnet34", "visattn.config": "{}"})
    cases.append((f, "layer1.2.conv1.weight"))
    f = os.path.join(w, "r18_10_classes.safetensors")
    save_file(arrays, f, metadata={"visattn.model": "resnet18", "visattn.config": "{}"})
    cases.append((f, "fc.weight"))
    f = os.path.join(w, "r18_truncated.safetensors")
    save_file(arrays, f, metadata={"visattn.model": "resnet18",
                                   "visattn.config": '{"num_classes": 10}'})
    with open(f, "rb") as fh:
        data = fh.read()
    with open(f, "wb") as fh:
        fh.write(data[:len(data) - 1000])
    cases.append((f, ""))
    for path, key in cases:
        r = subprocess.run([args.visattn, "run", path, x, os.path.join(w, "bad_out.npy")],
                           capture_output=True, text=True)
        p = one_line(r, path, key)
        if p:
            problems.append(f"{os.path.basename(path)}: {p}")
    print(f"{'FAIL' if problems else 'ok  '} visattn run on {len(cases)} bad model files: " +
          ("; ".join(problems) if problems else "one line each naming file (and key)"),
          flush=True)
    return bool(problems)


def main():
    args = setup(__doc__)
    # Quick: resnet101 at 64 x 64 (Bottleneck), the generic ResNets (dilation, groups, shuffle and
    # triplet slots, BasicBlock).
    failed, run = run_cases(args, CASES, 0, quick=[2, 8, 9])
    failed += check_checkpoints(args)
    failed += check_model_files(args)
    print(f"{run + 2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
