#!/usr/bin/python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from files the project
makes: every block's smallest parity config with random weights, tiny backbones with each kind of
attention, conv/conv_bn models, .npy arrays of each supported layout, small images in every
format stb_image reads, and the JPEG and PNG seeds of tools/make_image_seeds.py. Deterministic (fixed seeds); the output is committed.

    /usr/bin/python3 tools/make_fuzz_seeds.py [--out tests/fuzz/corpus] [--targets model,...]
"""
import argparse
import io
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backbone  # noqa: E402
import visattn_ref  # noqa: E402
from export import export  # noqa: E402
from export_conv_bn import make as make_conv  # noqa: E402
from safetensors_io import save_file  # noqa: E402
from visattn_ref.common import randomize_  # noqa: E402

# Seeds should be small: libFuzzer mutates faster and reaches deeper with inputs of a few KB.
MAX_SEED_BYTES = 16 * 1024


# Extra small configs for blocks whose parity cases are mostly over the size cap.
EXTRA_CONFIGS = {
    "irmb": [
        {"dim_in": 8, "dim_out": 8, "dim_head": 4, "window_size": 3},
        {"dim_in": 8, "dim_out": 16, "dim_head": 4, "stride": 2, "v_group": True, "window_size": 2,
         "qkv_bias": True, "act_layer": "gelu", "attn_pre": True},
        {"dim_in": 6, "dim_out": 6, "dim_head": 3, "exp_ratio": 2.0, "dw_ks": 5, "act_layer": "silu"},
    ],
}


BACKBONE_ATTENTIONS = [None, "se", "spatial", "cbam", "triplet", "shuffle", "double_attention",
                       "irmb", "eca", "simam", "bam"]


def model_seeds(out):
    """Safetensors files with metadata: blocks and models."""
    n = 0
    for name in visattn_ref.BLOCK_NAMES:
        ref = visattn_ref.load(name)
        # A few small configs per block: the parity cases under the size cap.
        configs = [c for c, _shape in ref.PARITY_CASES] + EXTRA_CONFIGS.get(name, [])
        for i, config in enumerate(configs):
            torch.manual_seed(i)
            module = randomize_(ref.build(dict(config)), i)
            path = os.path.join(out, f"{name}_{i}.safetensors")
            export(module, path, block=name, config=config)
            if os.path.getsize(path) > MAX_SEED_BYTES:
                os.remove(path)
            else:
                n += 1
    tiny = {"stem_width": 4, "widths": [8, 8], "depths": [1, 1], "strides": [2, 1],
            "input_size": [9, 7], "num_classes": 3, "class_names": ["a", "b", "c"]}
    for att in BACKBONE_ATTENTIONS:
        extra = dict(tiny)
        if att == "shuffle":
            extra["attention_args"] = {"groups": 2}
        if att == "irmb":
            extra["attention_args"] = {"dim_head": 4}
        if att == "bam":
            # bam needs C // 16 >= 1: one stage of 16 keeps the seed small
            extra.update(widths=[16], depths=[1], strides=[2])
        m, cfg = backbone.random_model(att, seed=1, **extra)
        path = os.path.join(out, f"backbone_{att or 'none'}.safetensors")
        export(m, path, model="backbone", config=cfg)
        n += 1
    # Networks (docs/networks/): their weights are far over the size cap, so these seeds hold a
    # config and the metadata a network file carries beside one tiny tensor; mutations explore
    # the stage tables (depths, widths, slots) and the metadata, and end at the first key.
    three = {"visattn.input_size": "[32, 24]", "visattn.resize": "40",
             "visattn.mean": "[0.5, 0.4, 0.3]", "visattn.std": "[0.2, 0.3, 0.4]",
             "visattn.class_names": json.dumps(["a", "b", "c"])}
    networks = [
        ("resnet18", {"num_classes": 3}),
        ("resnet50", {"num_classes": 3, "attention": "cbam"}),
        ("resnet", {"block": "Bottleneck", "layers": [1, 2, 1, 1], "num_classes": 3,
                    "groups": 2, "width_per_group": 8, "attention": "shuffle",
                    "attention_args": {"groups": 4}, "attention_key": "sa",
                    "replace_stride_with_dilation": [False, True, True]}),
        ("resnet", {"block": "BasicBlock", "layers": [1, 1, 1, 1], "num_classes": 3,
                    "attention": "triplet"}),
        ("resnext50_32x4d", {"num_classes": 3, "attention": "se", "attention_reduction": 8}),
        ("mobilenet_v3_small", {"num_classes": 3, "width_mult": 0.25, "reduced_tail": True,
                                "dilated": True}),
        ("mobilenet_v3_large", {"num_classes": 3, "attention": None}),
        ("efficientnet_b0", {"num_classes": 3, "attention": "spatial"}),
        ("efficientnet_b7", {"num_classes": 3, "stochastic_depth_prob": 0.5}),
    ]
    for i, (name, cfg) in enumerate(networks):
        meta = {"visattn.model": name, "visattn.config": json.dumps(cfg), **three}
        save_file({"conv1.weight": np.zeros((1, 3, 1, 1), np.float32)},
                  os.path.join(out, f"net_{i}_{name}.safetensors"), metadata=meta)
        n += 1
    for with_bn in (False, True):
        cfg = {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 1}
        m = make_conv(cfg, with_bn, seed=2)
        path = os.path.join(out, f"conv{'_bn' if with_bn else '2d'}.safetensors")
        export(m, path, model="conv_bn" if with_bn else "conv2d", config=cfg)
        n += 1
    return n


def safetensors_seeds(out):
    """Plain files exercising the reader: dtypes, shapes, metadata, padding."""
    rng = np.random.default_rng(0)
    cases = {
        "f32.safetensors": ({"a": rng.standard_normal((2, 3)).astype(np.float32)}, None),
        "f16.safetensors": ({"h": rng.standard_normal((5,)).astype(np.float16)}, {"k": "v"}),
        "scalar_and_empty.safetensors": ({"s": np.float32(1.5), "e": np.zeros((0, 4), np.float32)},
                                         None),
        "bn.safetensors": ({"bn.weight": np.ones(3, np.float32),
                            "bn.num_batches_tracked": np.array(7, np.int64)}, None),
        "six_dims.safetensors": ({"x": np.ones((1, 2, 1, 2, 1, 2), np.float32)}, None),
        "none.safetensors": ({}, {"visattn.block": "se", "visattn.config": "{}"}),
    }
    for fname, (tensors, meta) in cases.items():
        save_file(tensors, os.path.join(out, fname), metadata=meta)
    # BF16 by hand: the top halves of float32 values.
    vals = np.array([1.0, -2.5, 3.25], np.float32).view(np.uint32) >> 16
    data = vals.astype("<u2").tobytes()
    header = json.dumps({"b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, len(data)]}})
    with open(os.path.join(out, "bf16.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header.encode() + data)
    return len(cases) + 1


def npy_seeds(out):
    rng = np.random.default_rng(1)
    arrays = {
        "f32_4d": rng.standard_normal((2, 3, 5, 4)).astype(np.float32),
        "f64_2d": rng.standard_normal((3, 2)),
        "scalar": np.float32(2.0),
        "empty": np.zeros((0, 3), np.float32),
        "six_dims": np.ones((1, 2, 1, 2, 1, 2), np.float32),
    }
    for name, a in arrays.items():
        np.save(os.path.join(out, name + ".npy"), a)
    a = rng.standard_normal((2, 2)).astype(np.float32)
    for version in [(2, 0), (3, 0)]:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a, version=version)
        with open(os.path.join(out, f"v{version[0]}.npy"), "wb") as f:
            f.write(buf.getvalue())
    # Layouts the reader refuses with a clear error, as starting points for the mutator.
    np.save(os.path.join(out, "fortran.npy"), np.asfortranarray(rng.standard_normal((3, 2))))
    np.save(os.path.join(out, "int32.npy"), np.arange(6, dtype=np.int32))
    np.save(os.path.join(out, "big_endian.npy"), np.arange(4, dtype=">f4"))
    return len(arrays) + 5


def image_seeds(out):
    from PIL import Image

    rng = np.random.default_rng(2)
    rgb = Image.fromarray(rng.integers(0, 256, (7, 9, 3), dtype=np.uint8), "RGB")
    grey = rgb.convert("L")
    rgba = rgb.convert("RGBA")
    la = rgb.convert("LA")
    n = 0
    for img, fmt, name, kw in [
        (rgb, "PNG", "rgb.png", {}), (grey, "PNG", "grey.png", {}), (rgba, "PNG", "rgba.png", {}),
        (la, "PNG", "grey_alpha.png", {}), (rgb.convert("P"), "PNG", "palette.png", {}),
        (rgb, "JPEG", "rgb.jpg", {"quality": 80}), (grey, "JPEG", "grey.jpg", {}),
        (rgb, "JPEG", "progressive.jpg", {"progressive": True}),
        (rgb, "BMP", "rgb.bmp", {}), (grey, "BMP", "grey.bmp", {}),
        (rgb.convert("P"), "GIF", "rgb.gif", {}), (rgb, "TGA", "rgb.tga", {}),
        (rgba, "TGA", "rgba_rle.tga", {"compression": "tga_rle"}),
        (rgb, "PPM", "rgb.ppm", {}), (grey, "PPM", "grey.pgm", {}),
    ]:
        img.save(os.path.join(out, name), fmt, **kw)
        n += 1
    # 16 bits per channel PNG.
    Image.fromarray(rng.integers(0, 65536, (5, 6), dtype=np.uint16).astype(np.int32), "I").save(
        os.path.join(out, "grey16.png"))
    # Radiance HDR, written by hand (flat, uncompressed RGBE scanlines).
    w, h = 4, 3
    body = bytes(rng.integers(0, 256, (h, w, 4), dtype=np.uint8).flatten())
    with open(os.path.join(out, "tiny.hdr"), "wb") as f:
        f.write(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode() + body)
    # Structure-aware JPEG and PNG seeds for TurboJPEG and libspng (dec_*).
    import make_image_seeds
    return n + 2 + make_image_seeds.make_all(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fuzz", "corpus"))
    ap.add_argument("--targets", default="model,safetensors,npy,image",
                    help="which corpora to rewrite (comma list; default all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    targets = args.targets.split(",")
    for target, make in [("model", model_seeds), ("safetensors", safetensors_seeds),
                         ("npy", npy_seeds), ("image", image_seeds)]:
        if target not in targets:
            continue
        d = os.path.join(args.out, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        n = make(d)
        print(f"{target}: {n} seeds in {d}")
    # The reader sees every model file too.
    for f in sorted(os.listdir(os.path.join(args.out, "model"))):
        shutil.copy(os.path.join(args.out, "model", f), os.path.join(args.out, "safetensors", f))


if __name__ == "__main__":
    main()
