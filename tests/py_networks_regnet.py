#!/usr/bin/python3
"""RegNetY in C (backbone/regnet.c on the network engine backbone/net.c) against torchvision 0.14.

Cases: regnet_y_400mf and regnet_y_800mf at 2 x 3 x 224 x 224; regnet_y_1_6gf and regnet_y_3_2gf
at a reduced 2 x 3 x 64 x 64, regnet_y_8gf at 2 x 3 x 48 x 48, regnet_y_16gf and regnet_y_32gf at
2 x 3 x 32 x 32 (the blocks are the same, fewer positions: the file stays near a minute);
regnet_y_400mf with 10 classes and stem_width 24, without the slot (attention null: RegNetX-like,
the stages' energy maps), with cbam, and with se given other activations; the generic "regnet"
(BlockParams.from_init_params' arguments) without SE and with a bottleneck multiplier and a
shuffle slot. Each as py_networks.run_case: random weights and BN statistics, `visattn run
--maps`, logits within 1e-3 absolute and 1e-4 relative to the largest logit of the float64
reference, every SE / slot / energy map within 1e-4, the CAM within the logits' bounds, `visattn
info`'s params equal to sum(p.numel()) and its MACs to the convs' and Linear's.

Then the width rule alone, for generic settings drawn at random (small networks): the C model's
parameter count (`visattn info` on a file exported from torchvision's model) equals torchvision's,
which any other stage width, depth or group count would change (the builders' are checked by their
cases). regnet_y_128gf (645 M parameters, a 2.6 GB file) runs only with VISATTN_TEST_BIG=1, as a
case at 1 x 3 x 32 x 32 (docs/networks/regnet.md gives its result). Then configs torchvision's
builders do not take, refused in one line. Prints one line per check.
"""
import json
import os
import random
import subprocess
import sys


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import py_networks  # noqa: E402  (puts tools/ on the path)
import networks  # noqa: E402

CASES = [
    ("regnet_y_400mf", {}, (2, 3, 224, 224)),
    ("regnet_y_800mf", {}, (2, 3, 224, 224)),
    ("regnet_y_1_6gf", {}, (2, 3, 64, 64)),
    ("regnet_y_3_2gf", {}, (2, 3, 64, 64)),
    ("regnet_y_8gf", {}, (2, 3, 48, 48)),
    ("regnet_y_16gf", {}, (2, 3, 32, 32)),
    ("regnet_y_32gf", {}, (2, 3, 32, 32)),
    ("regnet_y_400mf", {"num_classes": 10, "stem_width": 24}, (2, 3, 96, 80)),
    ("regnet_y_400mf", {"attention": None}, (2, 3, 96, 96)),
    ("regnet_y_400mf", {"attention": "cbam", "attention_args": {"reduction_ratio": 8}},
     (1, 3, 96, 96)),
    ("regnet_y_800mf", {"attention": "se", "attention_args": {"activation": "hardswish",
                                                              "scale_activation": "hardsigmoid"}},
     (1, 3, 64, 64)),
    ("regnet", {"depth": 13, "w_0": 24, "w_a": 36.44, "w_m": 2.49, "group_width": 8,
                "num_classes": 7}, (2, 3, 64, 48)),
    ("regnet", {"depth": 8, "w_0": 32, "w_a": 20.0, "w_m": 2.2, "group_width": 16,
                "bottleneck_multiplier": 2.0, "se_ratio": 0.5, "attention": "shuffle",
                "attention_args": {"groups": 4}}, (1, 3, 61, 47)),
]
BIG = ("regnet_y_128gf", {}, (1, 3, 32, 32))

# Configs visattn refuses, with what the one line must name.
BAD = [
    ("regnet_y_400mf", {"se_ratio": 0.5}, ("se_ratio", "fixed by the builder")),
    ("regnet_y_8gf", {"w_a": 20.0}, ("w_a", "fixed by the builder")),
    ("regnet_y_800mf", {"norm_layer": "BatchNorm2d"}, ("norm_layer", "Python class")),
    ("regnet_y_400mf", {"attention_args": {"squeeze_channels": 4}}, ("squeeze_channels",)),
    ("regnet_y_400mf", {"attention_reduction": 8}, ("attention_reduction", "se")),
    ("regnet_y_400mf", {"attention": "nonesuch"}, ("nonesuch", "registered")),
    ("regnet_y_400mf", {"weights": "IMAGENET1K_V2"}, ("weights",)),
    ("regnet", {"depth": 4, "w_0": 20, "w_a": 8.0, "w_m": 2.0, "group_width": 8},
     ("w_0", "multiple of 8")),
    ("regnet", {"depth": 4, "w_a": 8.0, "w_m": 2.0, "group_width": 8}, ("w_0", "required")),
    ("regnet", {"depth": 4, "w_0": 16, "w_a": 8.0, "w_m": 2.0, "group_width": 8,
                "attention": "se"}, ("se_ratio",)),
]


def check_widths(args):
    """The C stage table against torchvision's through the parameter count (no forward)."""
    rng = random.Random(7)
    configs = []
    for _ in range(16):
        configs.append(("regnet", {
            "depth": rng.randint(1, 16), "w_0": 8 * rng.randint(1, 8),
            "w_a": round(rng.uniform(0, 32), 2), "w_m": round(rng.uniform(1.5, 3.0), 2),
            "group_width": rng.choice([1, 4, 8, 16, 24]),
            "bottleneck_multiplier": rng.choice([1.0, 1.0, 0.5, 2.0, 0.25]),
            "se_ratio": rng.choice([None, 0.25])}))
    problems = []
    f = os.path.join(args.workdir, "widths.safetensors")
    for builder, config in configs:
        try:
            model = networks.build("torchvision", builder, config)
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            problems.append(f"torchvision refuses {builder} {json.dumps(config)}: {e}")
            continue
        py_networks.export(model, f, model=builder, config=config)
        params = sum(p.numel() for p in model.parameters())
        del model
        r = subprocess.run([args.visattn, "info", f, "--shape", "1,3,32,32"],
                           capture_output=True, text=True)
        got = json.loads(r.stdout).get("params") if r.returncode == 0 else r.stderr.strip()
        if got != params:
            problems.append(f"{builder} {json.dumps(config)}: params {got} != {params}")
    os.remove(f)
    print(f"{'FAIL' if problems else 'ok  '} the width rule: {len(configs)} generic settings "
          "give torchvision's parameter count: " +
          ("; ".join(problems) if problems else "all equal"),
          flush=True)
    return bool(problems)


def check_bad(args):
    problems = py_networks.refused(args, BAD)
    problems += filter(None, [py_networks.exports(
        args, "torchvision:regnet_y_400mf", {"num_classes": 5, "attention": "cbam"})])
    print(f"{'FAIL' if problems else 'ok  '} {len(BAD)} configs torchvision's builders do not "
          "take refused; export.py --network torchvision:regnet_y_400mf: " +
          ("; ".join(problems) if problems else "one line each, export works"), flush=True)
    return bool(problems)


def main():
    args = py_networks.setup(__doc__)
    cases = CASES + ([BIG] if os.environ.get("VISATTN_TEST_BIG") == "1" else [])
    # Quick: 1.6GF at 64 x 64, no slot, cbam, the generic RegNets.
    failed, run = py_networks.run_cases(args, cases, 300, quick=[2, 8, 9, 11, 12])
    failed += check_widths(args)
    failed += check_bad(args)
    print(f"{run + 2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
