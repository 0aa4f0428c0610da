#!/usr/bin/python3
"""The ResNets the attention blocks' authors published, in C (backbone/resnet.c's ResidualNet and
sa_resnet*, on the network engine backbone/net.c) against tools/networks.py's twins.

The twins were checked once against the official files (Jongchan/attention-module,
landskape-ai/triplet-attention, wofmanaf/SA-Net; docs/networks/attention_resnets.md): same keys in
the same order, same outputs in float64. CI cannot fetch those, so this file holds the C models to
the twins. Cases, each as py_networks.run_case (random weights and BN statistics, `visattn run
--maps`, logits within 1e-3 absolute and 1e-4 relative to the largest logit of the float64 twin,
every slot / energy map within 1e-4, the CAM within the logits' bounds, params and MACs):

  attention-module ResidualNet ImageNet 18 CBAM, triplet-attention ResidualNet ImageNet 18
  TripletAttention, SA-Net sa_resnet50: 2 x 3 x 224 x 224 (the fixed AvgPool2d(7) head needs a
  7..13 final map, i.e. inputs of 193..416);
  ResidualNet ImageNet 50 without attention at 1 x 3 x 193 x 250 (the smallest height the head
  takes; the 8-wide final map pools its left 7 x 7 only);
  ResidualNet CIFAR10 18 CBAM at 2 x 3 x 32 x 32 and CIFAR100 50 TripletAttention at
  1 x 3 x 28 x 40 (F.avg_pool2d(x, 4) on a 4 x 5 final map);
  deeper: sa_resnet101 with 10 classes at 1 x 3 x 64 x 64 (SA-Net's head is global: any size
  runs; ResidualNet's fixed head would need 193 x 193 at least, too slow for the suite: depth 34
  and 101 and sa_resnet152 were checked once against the official code instead, docs);
  ECA-Net's eca_resnet18 (k_size [3, 5, 5, 7]), SimAM's ImageNet resnet18 and ResidualNet ImageNet
  18 with BAM at 2 x 3 x 224 x 224; eca_resnet50 and SimAM's resnet50 at a reduced 1 x 3 x 64 x 64;
  SimAM's CIFAR resnet20 (basic) and resnet56 (bottlenect, 100 classes) at 2 x 3 x 32 x 32 and
  resnet20 without attention at 1 x 3 x 32 x 32; ResidualNet CIFAR100 50 with BAM at 1 x 3 x 32 x 32
  (deeper ones: the one-off check, docs).

Then what must be refused in one line: configs the official code cannot build or visattn does not
place (bad network_type, depth 152, att_type BAM or unknown, a missing argument, a key SA-Net's
builders do not take), inputs the fixed-window heads cannot take (448 x 448 and 160 x 160 for
ImageNet, 64 x 64 for CIFAR), and export.py's twin refusing the other repository's att_type; and
export.py's command line writing the registered model name and the config into the file; bad ECA
and SimAM configs; a checkpoint as SimAM's main_cifar.py saves it through export.py --weights and
visattn run.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import py_networks  # noqa: E402  (puts tools/ on the path)
import networks  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402


def rnet(network_type, depth, att_type, num_classes=1000):
    return {"network_type": network_type, "depth": depth, "num_classes": num_classes,
            "att_type": att_type}


def simam(arch, att="simam", cifar=None, block="basic", param=0.1):
    """SimAM's create_net args; cifar: num_class (then block_type too)."""
    c = {"arch": arch, "attention_type": att, "attention_param": param}
    if cifar:
        c.update(block_type=block, num_class=cifar)
    return c


CASES = [  # (source, builder, config, input shape)
    ("attention-module", "ResidualNet", rnet("ImageNet", 18, "CBAM"), (2, 3, 224, 224)),
    ("triplet-attention", "ResidualNet", rnet("ImageNet", 18, "TripletAttention"),
     (2, 3, 224, 224)),
    ("SA-Net", "sa_resnet50", {}, (2, 3, 224, 224)),
    ("attention-module", "ResidualNet", rnet("ImageNet", 50, None, 10), (1, 3, 193, 250)),
    ("attention-module", "ResidualNet", rnet("CIFAR10", 18, "CBAM", 10), (2, 3, 32, 32)),
    ("triplet-attention", "ResidualNet", rnet("CIFAR100", 50, "TripletAttention", 100),
     (1, 3, 28, 40)),
    ("SA-Net", "sa_resnet101", {"num_classes": 10}, (1, 3, 64, 64)),
    # ECA-Net, SimAM (ImageNet and CIFAR), attention-module's BAM between the stages.
    ("ECANet", "eca_resnet18", {"k_size": [3, 5, 5, 7]}, (2, 3, 224, 224)),
    ("ECANet", "eca_resnet50", {"k_size": [3, 5, 5, 7], "num_classes": 10}, (1, 3, 64, 64)),
    ("SimAM", "imagenet.create_net", simam("resnet18"), (2, 3, 224, 224)),
    ("SimAM", "imagenet.create_net", simam("ResNet50", param=1e-4), (1, 3, 64, 64)),
    ("SimAM", "cifar.create_net", simam("resnet20", cifar=10), (2, 3, 32, 32)),
    ("SimAM", "cifar.create_net", simam("resnet56", cifar=100, block="bottlenect"),
     (2, 3, 32, 32)),
    ("SimAM", "cifar.create_net", {"arch": "resnet20", "num_class": 10}, (1, 3, 32, 32)),
    ("attention-module", "ResidualNet", rnet("ImageNet", 18, "BAM"), (2, 3, 224, 224)),
    ("attention-module", "ResidualNet", rnet("CIFAR100", 50, "BAM", 100), (1, 3, 32, 32)),
]

# Configs refused at creation, with what the one line must name.
BAD_CONFIGS = [
    ("ResidualNet", rnet("imagenet", 18, "CBAM"), ("network_type", "ImageNet", "CIFAR10")),
    ("ResidualNet", rnet("ImageNet", 152, "CBAM"), ("depth", "18, 34, 50 or 101", "152")),
    ("ResidualNet", rnet("ImageNet", 50, "SE"), ("att_type", "\"SE\"")),
    ("ResidualNet", rnet("ImageNet", 50, "CBAM", 0), ("num_classes", ">= 1")),
    ("ResidualNet", {"network_type": "ImageNet", "depth": 50, "num_classes": 10},
     ("'att_type' is required",)),
    ("ResidualNet", dict(rnet("ImageNet", 50, "CBAM"), attention="se"), ("attention",)),
    ("sa_resnet50", {"groups": 2}, ("groups",)),
    ("eca_resnet50", {"k_size": [3, 4, 5, 7]}, ("k_size", "odd")),
    ("eca_resnet50", {"k_size": [3, 5, 5]}, ("k_size", "4")),
    ("eca_resnet18", {"k_size": 3}, ("k_size", "list")),
    ("eca_resnet50", {"attention": "se"}, ("attention",)),
    ("simam_resnet", simam("resnext50_32x4d"), ("arch", "resnet152", "resnext50_32x4d")),
    ("simam_resnet", {"arch": "resnet50", "attention_type": "simam"},
     ("attention_param", "e_lambda")),
    ("simam_resnet", simam("resnet50", att="se"), ("attention_type", "\"se\"")),
    ("simam_resnet", {"attention_type": "none"}, ("'arch' is required",)),
    ("simam_resnet", dict(simam("resnet50"), num_classes=10), ("num_classes",)),
    ("simam_resnet", simam("resnet50", param=-1), ("e_lambda", ">= 0")),
    ("simam_cifar_resnet", simam("resnet20", cifar=10, block="bottleneck"),
     ("block_type", "bottlenect")),
    ("simam_cifar_resnet", simam("preresnet20", cifar=10), ("arch", "resnet164")),
    ("simam_cifar_resnet", simam("resnet20"), ("'num_class' is required",)),
]

# Inputs the fixed-window heads cannot take: (config, input H, W, what the line must name).
BAD_INPUTS = [
    (rnet("ImageNet", 18, None, 10), 448, 448, ("448x448 input", "AvgPool2d(7)", "7..13",
                                                 "got 14x14", "224x224")),
    (rnet("ImageNet", 18, None, 10), 160, 160, ("160x160 input", "AvgPool2d(7)", "got 5x5")),
    (rnet("ImageNet", 18, None, 10), 224, 480, ("AvgPool2d(7)", "got 7x15")),
    (rnet("CIFAR10", 18, None, 10), 64, 64, ("64x64 input", "AvgPool2d(4)", "4..7", "got 8x8",
                                             "32x32")),
]


def metadata(path):
    """The __metadata__ of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def check_refused(args):
    w = args.workdir
    problems = []
    x = os.path.join(w, "bad_in.npy")
    np.save(x, np.zeros((1, 3, 224, 224), np.float32))
    for builder, config, needles in BAD_CONFIGS:
        f = os.path.join(w, "bad_config.safetensors")
        py_networks.export(torch.nn.Linear(1, 1), f, model=builder, config=config)
        r = subprocess.run([args.visattn, "run", f, x, os.path.join(w, "bad_out.npy")],
                           capture_output=True, text=True)
        p = py_networks.one_line(r, builder, *needles)
        if p:
            problems.append(f"{builder} {json.dumps(config)}: {p}")
    built = {}
    for config, h, wd, needles in BAD_INPUTS:
        f = os.path.join(w, f"bad_input_{config['network_type']}.safetensors")
        if f not in built:
            built[f] = randomize_(networks.build("attention-module", "ResidualNet", config), 7)
            py_networks.export(built[f], f, model="ResidualNet", config=config)
        model = built[f]
        xi = os.path.join(w, "bad_input.npy")
        np.save(xi, np.zeros((1, 3, h, wd), np.float32))
        for cmd in (["run", f, xi, os.path.join(w, "bad_out.npy")],
                    ["info", f, "--shape", f"1,3,{h},{wd}"]):
            r = subprocess.run([args.visattn, *cmd], capture_output=True, text=True)
            p = py_networks.one_line(r, "ResidualNet", *needles)
            if p:
                problems.append(f"visattn {cmd[0]} at {h}x{wd}: {p}")
        # The official head fails on it too: the twin must agree that it is not a size to run
        # (the small inputs: a 448 x 448 float forward is too slow for the suite).
        if h * wd > 224 * 224:
            continue
        try:
            with torch.no_grad():
                model(torch.zeros(1, 3, h, wd))
            problems.append(f"the twin runs a {h}x{wd} input the official head cannot")
        except RuntimeError:
            pass
    # export.py: the other repository's att_type (the official code would silently build no
    # attention), a missing argument.
    for net, config, needles in [
            ("triplet-attention:ResidualNet", rnet("ImageNet", 18, "CBAM"),
             ("att_type", "'TripletAttention'", "'CBAM'")),
            ("attention-module:ResidualNet", rnet("ImageNet", 18, "TripletAttention"),
             ("att_type", "'CBAM'")),
            ("attention-module:ResidualNet", {"depth": 18}, ("network_type",))]:
        r = py_networks.export_cli("--network", net, "--config", json.dumps(config), "--out",
                                   os.path.join(w, "x.safetensors"))
        p = py_networks.one_line(r, net, *needles)
        if p:
            problems.append(f"export.py {net} {json.dumps(config)}: {p}")
    n = len(BAD_CONFIGS) + 2 * len(BAD_INPUTS) + 3
    print(f"{'FAIL' if problems else 'ok  '} {n} refusals (configs, input sizes for the fixed "
          "heads, export.py): " + ("; ".join(problems) if problems else "one line each"),
          flush=True)
    return bool(problems)


def check_export_cli(args):
    """The commands of the docs: the file names the registered model and carries the config."""
    problems = []
    runs = [("attention-module:ResidualNet", rnet("ImageNet", 18, "CBAM"), "ResidualNet"),
            ("triplet-attention:ResidualNet", rnet("ImageNet", 18, "TripletAttention", 10),
             "ResidualNet"),
            ("SA-Net:sa_resnet50", None, "sa_resnet50"),
            ("ECANet:eca_resnet50", {"k_size": [3, 5, 5, 7]}, "eca_resnet50"),
            ("SimAM:imagenet.create_net", simam("resnet50"), "simam_resnet"),
            ("SimAM:cifar.create_net", simam("resnet20", cifar=10), "simam_cifar_resnet"),
            ("attention-module:ResidualNet", rnet("ImageNet", 50, "BAM"), "ResidualNet")]
    for net, config, model in runs:
        out = os.path.join(args.workdir, "cli.safetensors")
        argv = ["--network", net, "--out", out] + (["--config", json.dumps(config)]
                                                   if config else [])
        r = py_networks.export_cli(*argv)
        meta = metadata(out) if r.returncode == 0 else {}
        if meta.get("visattn.model") != model or \
                json.loads(meta.get("visattn.config", "null")) != (config or {}):
            problems.append(f"{net}: exit {r.returncode}, {r.stderr.strip()!r}, metadata {meta}")
            continue
        r = subprocess.run([args.visattn, "info", out, "--shape", "1,3,224,224"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            problems.append(f"visattn info {net}: {r.stderr.strip()}")
        if model == "simam_cifar_resnet" and (
                json.loads(meta.get("visattn.input_size", "0")) != [32, 32] or
                json.loads(meta.get("visattn.mean", "0")) != [0.4914, 0.4822, 0.4465] or
                len(json.loads(meta.get("visattn.class_names", "[]"))) != 10):
            problems.append(f"{net}: not main_cifar.py's 32x32 and Normalize, CIFAR-10 names: "
                            f"{meta}")
    print(f"{'FAIL' if problems else 'ok  '} export.py --network for {len(runs)} builders: " +
          ("; ".join(problems) if problems else "the registered model name and the config in the "
           "file, visattn info reads it"), flush=True)
    return bool(problems)


def check_training_checkpoint(args):
    """A checkpoint as SimAM's main_cifar.py saves it ({"epoch", "state_dict" with thop's
    total_ops / total_params buffers, "best_acc", "optimizer"}) through export.py --weights and
    visattn run gives the twin's logits."""
    w = args.workdir
    config = simam("resnet20", cifar=10)
    model = randomize_(networks.build("SimAM", "cifar.create_net", config), 11)
    sd = dict(model.state_dict())
    for name, m in model.named_modules():  # thop's profile() leaves these in the leaf modules
        if len(list(m.children())):
            continue
        sd[(name + "." if name else "") + "total_ops"] = torch.zeros(1, dtype=torch.float64)
        sd[(name + "." if name else "") + "total_params"] = torch.zeros(1, dtype=torch.float64)
    ckpt, out = os.path.join(w, "simam_cifar.pth.tar"), os.path.join(w, "simam_cifar.safetensors")
    torch.save({"epoch": 164, "state_dict": sd, "best_acc": 91.0, "optimizer": {"state": {}}},
               ckpt)
    r = py_networks.export_cli("--network", "SimAM:cifar.create_net", "--config",
                               json.dumps(config), "--weights", ckpt, "--out", out)
    problem = ""
    if r.returncode != 0 or "under 'state_dict'" not in r.stderr or "thop" not in r.stderr:
        problem = f"export.py: exit {r.returncode}, {r.stderr.strip()!r}"
    else:
        torch.manual_seed(12)
        problem = py_networks.converted_problem(args, out, model, torch.randn(2, 3, 32, 32))
    print(f"{'FAIL' if problem else 'ok  '} a main_cifar.py checkpoint (thop buffers, under "
          f"'state_dict') through export.py --weights and visattn run: " +
          (problem or "the twin's logits"), flush=True)
    return bool(problem)


def main():
    args = py_networks.setup(__doc__)
    failed = run = 0
    # VISATTN_TESTS_QUICK=1 (docs/testing.md): the CIFAR CBAM and triplet ResNets (the 4 x 4 window
    # head), ECA-Net-50, SimAM's ImageNet and CIFAR nets, the CIFAR BAM ResNet.
    quick = [4, 5, 8, 10, 11, 15]
    if py_networks.QUICK:
        print(f"VISATTN_TESTS_QUICK=1: {len(quick)} of the {len(CASES)} cases", flush=True)
    for i, (source, builder, config, shape) in enumerate(CASES):
        if py_networks.QUICK and i not in quick:
            continue
        run += 1
        problems, summary = py_networks.run_case(args, 300 + i, builder, config, shape,
                                                 source=source)
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {source}:{builder} {json.dumps(config)} "
              f"{'x'.join(map(str, shape))}: " + ("; ".join(problems) if problems else summary),
              flush=True)
    failed += check_refused(args)
    failed += check_export_cli(args)
    failed += check_training_checkpoint(args)
    print(f"{run + 3 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
