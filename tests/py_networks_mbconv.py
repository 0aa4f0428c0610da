#!/usr/bin/python3
"""MobileNetV3 and EfficientNet in C (backbone/mbconv.c on the network engine backbone/net.c)
against torchvision 0.14.

Cases: mobilenet_v3_large, mobilenet_v3_small and efficientnet_b0 at 2 x 3 x 224 x 224;
efficientnet_b1..b4 at a reduced 2 x 3 x 64 x 64, b5 and b6 at 2 x 3 x 48 x 48, b7 at
2 x 3 x 32 x 32 (the blocks are the same, fewer positions: the suite stays near a minute);
mobilenet_v3_small with width_mult 0.75, reduced_tail, dilated and 10 classes; the slot with
cbam (mobilenet_v3_large), with se given other activations, and empty (efficientnet_b0,
attention null) against tools/networks.py's twin. Each as py_networks.run_case: random weights
and BN statistics, `visattn run --maps`, logits within 1e-3 absolute and 1e-4 relative to the
largest logit of the float64 reference, every SE / slot map within 1e-4, the CAM (MobileNetV3:
its head linearised at the sample) within the logits' bounds, `visattn info`'s params equal to
sum(p.numel()) and its MACs to the convs' and Linears'. Then configs torchvision's builders do not
take, refused in one line. Prints one line per check.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import py_networks  # noqa: E402  (puts tools/ on the path)

CASES = [
    # Cases are seeded by their index: these inputs give no near tie of the two top logits.
    ("mobilenet_v3_large", {}, (2, 3, 224, 224)),
    ("mobilenet_v3_small", {}, (2, 3, 224, 224)),
    ("efficientnet_b0", {}, (2, 3, 224, 224)),
    ("efficientnet_b1", {}, (2, 3, 64, 64)),
    ("efficientnet_b2", {"num_classes": 10}, (2, 3, 64, 64)),
    ("efficientnet_b3", {}, (2, 3, 64, 64)),
    ("efficientnet_b4", {}, (2, 3, 64, 64)),
    ("efficientnet_b5", {}, (2, 3, 48, 48)),
    ("efficientnet_b6", {"stochastic_depth_prob": 0.5}, (2, 3, 48, 48)),
    ("efficientnet_b7", {}, (2, 3, 32, 32)),
    ("mobilenet_v3_small", {"width_mult": 0.75, "reduced_tail": True, "dilated": True,
                            "num_classes": 10, "dropout": 0.5}, (2, 3, 96, 80)),
    ("mobilenet_v3_large", {"attention": "cbam", "attention_args": {"reduction_ratio": 8}},
     (1, 3, 96, 96)),
    ("efficientnet_b0", {"attention": "se", "attention_args": {"activation": "hardswish",
                                                               "scale_activation": "hardsigmoid"}},
     (1, 3, 64, 64)),
    ("efficientnet_b0", {"attention": None, "num_classes": 3}, (2, 3, 64, 64)),
]

# Configs visattn refuses, with what the one line must name.
BAD = [
    ("efficientnet_b3", {"width_mult": 2.0}, ("width_mult", "fixed by the builder")),
    ("efficientnet_b0", {"dropout": 0.1}, ("dropout", "fixed by the builder")),
    ("mobilenet_v3_large", {"attention_args": {"squeeze_channels": 4}}, ("squeeze_channels",)),
    ("mobilenet_v3_small", {"attention_reduction": 8}, ("attention_reduction", "se")),
    ("mobilenet_v3_small", {"depth_mult": 2}, ("depth_mult",)),
    ("efficientnet_b1", {"attention": "nonesuch"}, ("nonesuch", "registered")),
]


def check_bad(args):
    problems = py_networks.refused(args, BAD)
    problems += filter(None, [py_networks.exports(
        args, "torchvision:mobilenet_v3_large", {"num_classes": 5, "attention": "cbam"})])
    print(f"{'FAIL' if problems else 'ok  '} {len(BAD)} configs torchvision's builders do not "
          "take refused; export.py --network torchvision:mobilenet_v3_large: " +
          ("; ".join(problems) if problems else "one line each, export works"), flush=True)
    return bool(problems)


def main():
    args = py_networks.setup(__doc__)
    # Quick: B1 at 64 x 64; MobileNetV3 small with width, tail and dilation; the cbam slot; the se
    # slot with other activations.
    failed, run = py_networks.run_cases(args, CASES, 100, quick=[3, 10, 11, 12])
    failed += check_bad(args)
    print(f"{run + 1 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
