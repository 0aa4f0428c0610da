"""Export a PyTorch module's state_dict to a safetensors file visattn can build and run.

The file's metadata names what it holds ("visattn.block" or "visattn.model") and its constructor
configuration ("visattn.config", JSON), so `visattn run FILE in.npy out.npy` needs nothing else.
"""
import json

import numpy as np
import torch

from safetensors_io import save_file


def state_dict_arrays(module: torch.nn.Module) -> dict:
    out = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu()
        out[k] = v.numpy().astype(np.int64 if v.dtype == torch.int64 else np.float32)
    return out


def export(module: torch.nn.Module, path: str, *, block: str = None, model: str = None,
           config: dict = None, extra_meta: dict = None) -> None:
    if (block is None) == (model is None):
        raise ValueError("give exactly one of block= or model=")
    meta = {"visattn.config": json.dumps(config or {})}
    meta["visattn.block" if block else "visattn.model"] = block or model
    meta.update(extra_meta or {})
    save_file(state_dict_arrays(module), path, metadata=meta)


USAGE = """Build a network and write it as a visattn model file.

    /usr/bin/python3 tools/export.py --network SOURCE:BUILDER [--config JSON]
        [--weights CHECKPOINT] [--seed S] [--input-size H,W] [--resize S]
        [--mean R,G,B --std R,G,B] --out MODEL.safetensors

SOURCE:BUILDER: EMO:EMO_1M, EMO_2M, EMO_5M, EMO_6M, emo (zhangzjn/EMO, docs/networks/emo.md);
torchvision:resnet18 ... resnet152, resnext50_32x4d, wide_resnet50_2, or
torchvision:resnet (block and layers in --config); torchvision:mobilenet_v3_small,
mobilenet_v3_large, efficientnet_b0 ... efficientnet_b7, efficientnet_v2_s, efficientnet_v2_m,
efficientnet_v2_l; torchvision:regnet_y_400mf,
regnet_y_800mf, regnet_y_1_6gf, regnet_y_3_2gf, regnet_y_8gf, regnet_y_16gf, regnet_y_32gf,
regnet_y_128gf, or torchvision:regnet (depth, w_0, w_a, w_m, group_width, bottleneck_multiplier,
se_ratio in --config; docs/networks/regnet.md); the ResNets the attention blocks'
authors published: attention-module:ResidualNet, triplet-attention:ResidualNet (--config
network_type, depth, num_classes, att_type, all required), SA-Net:sa_resnet50, sa_resnet101,
sa_resnet152 (num_classes), ECANet:eca_resnet18 ... eca_resnet152 (k_size, num_classes),
SimAM:imagenet.create_net (arch, attention_type, attention_param) and SimAM:cifar.create_net
(also block_type, num_class), docs/networks/attention_resnets.md. --config: the builder's keyword
arguments (num_classes, groups, ...; width_mult, reduced_tail, dilated, dropout;
stochastic_depth_prob) and the attention slot's (attention, attention_args, attention_reduction,
attention_key), docs/networks/resnet.md, docs/networks/mobilenet_efficientnet.md. Without --weights: the builder's own
random initialisation after torch.manual_seed(S) (default 0). --weights: a checkpoint holding a
state_dict, or one under 'state_dict', 'model' or 'net', keys possibly prefixed 'module.', thop's
total_ops/total_params buffers ignored. The file also records how images are prepared for it
(visattn heatmap and eval read it): torchvision's eval transform of the builder's first published
weights (ImageNet networks otherwise: resize 256, crop 224, ImageNet mean/std), the class names;
--input-size, --resize, --mean and --std replace those (e.g. for weights trained another way).
"""


IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
# CIFAR-100's fine labels in the data set's order (its meta file lists them alphabetically).
CIFAR100_CLASSES = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy
bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach
couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo
keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse
mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy
porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail
snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
assert len(CIFAR100_CLASSES) == 100 and CIFAR100_CLASSES == sorted(CIFAR100_CLASSES)


def network_meta(source, builder, config, overrides=None):
    """What a network's file declares beside its weights (core/block.c reads it): the network,
    torchvision's eval transform (resize the shorter side, centre crop, mean / std) and the class
    names. torchvision builders: from their first published weights' transforms and categories
    (the enum ships with torchvision: nothing is downloaded); the other ImageNet networks:
    256 / 224 and ImageNet's mean, std and names; CIFAR networks: 32 x 32 resized as a whole, no
    normalisation (their repositories publish none: give --mean and --std), CIFAR-10's or
    CIFAR-100's names (SimAM's CIFAR ResNets: main_cifar.py's mean and std).
    overrides: the command line's input_size / resize / mean / std, put over these."""
    meta = {"visattn.network": f"{source}:{builder}"}
    size, resize, mean, std, names = [224, 224], 256, IMAGENET_MEAN, IMAGENET_STD, None
    if source == "torchvision":
        from torchvision.models import get_model_weights
        try:
            weights = list(get_model_weights(builder))[0]
        except (ValueError, KeyError, IndexError):
            weights = None
        if weights is not None:
            t = weights.transforms()
            size, resize = [t.crop_size[0]] * 2, t.resize_size[0]
            mean, std = list(t.mean), list(t.std)
            names = weights.meta["categories"]
    if str(config.get("network_type", "ImageNet")).startswith("CIFAR"):
        size, resize, mean, std = [32, 32], 0, None, None
        names = CIFAR100_CLASSES if config.get("num_classes") == 100 else CIFAR10_CLASSES
    elif (source, builder) == ("SimAM", "cifar.create_net"):
        # main_cifar.py's test transform: ToTensor and its Normalize.
        size, resize = [32, 32], 0
        mean, std = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]
        names = CIFAR100_CLASSES if config.get("num_class") == 100 else CIFAR10_CLASSES
        config = {"num_classes": config.get("num_class")}
    elif names is None:
        from torchvision.models._meta import _IMAGENET_CATEGORIES
        names = _IMAGENET_CATEGORIES
    o = overrides or {}
    size, resize = o.get("input_size") or size, o.get("resize", resize)
    mean, std = o.get("mean") or mean, o.get("std") or std
    meta["visattn.input_size"] = json.dumps(size)
    meta["visattn.resize"] = json.dumps(resize)
    if mean and std:
        meta["visattn.mean"] = json.dumps(mean)
        meta["visattn.std"] = json.dumps(std)
    if config.get("num_classes", 1000) == len(names):
        meta["visattn.class_names"] = json.dumps(list(names))
    return meta


def main(argv=None):
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--network", required=True, metavar="SOURCE:BUILDER")
    ap.add_argument("--config", default="{}", metavar="JSON")
    ap.add_argument("--weights", metavar="CHECKPOINT")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, metavar="MODEL.safetensors")
    ap.add_argument("--input-size", metavar="H,W", help="the input the network was trained at")
    ap.add_argument("--resize", type=int, metavar="S",
                    help="resize the shorter side to S, then centre-crop the input size; 0: "
                         "resize the image to the input size")
    ap.add_argument("--mean", metavar="R,G,B", help="normalisation mean (of pixel / 255)")
    ap.add_argument("--std", metavar="R,G,B", help="normalisation std")
    args = ap.parse_args(argv)

    def fail(msg):
        print(f"export.py: {msg}", file=sys.stderr)
        return 1

    source, _, builder = args.network.partition(":")
    overrides = {}
    try:
        if args.input_size:
            overrides["input_size"] = [int(v) for v in args.input_size.split(",")]
            if len(overrides["input_size"]) != 2:
                raise ValueError("--input-size needs H,W")
        if args.resize is not None:
            overrides["resize"] = args.resize
        for k in ("mean", "std"):
            if getattr(args, k):
                overrides[k] = [float(v) for v in getattr(args, k).split(",")]
    except ValueError as e:
        return fail(f"{e}")
    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as e:
        return fail(f"--config is not JSON: {e}")
    if not isinstance(config, dict):
        return fail("--config must be a JSON object")
    import networks  # torchvision: only the command line needs it
    torch.manual_seed(args.seed)
    try:
        module = networks.build(source, builder, config)
    except (ValueError, TypeError, KeyError, NotImplementedError) as e:
        return fail(f"{args.network} with config {json.dumps(config)}: {e}")
    if args.weights:
        label = f"{args.network}" + (f" {json.dumps(config)}" if config else "")
        try:
            form = networks.load_checkpoint(module, args.weights, label)
        except networks.CheckpointError as e:
            return fail(str(e))
        print(f"export.py: {args.weights}: {form}", file=sys.stderr)
    else:
        # The twins of the attention ResNets keep PyTorch's default init, not their repository's.
        init = f"{source}'s" if source == "torchvision" else "PyTorch's default"
        print(f"export.py: random weights ({init} initialisation, seed {args.seed})",
              file=sys.stderr)
    export(module.eval(), args.out, model=networks.model_name(source, builder), config=config,
           extra_meta=network_meta(source, builder, config, overrides))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
