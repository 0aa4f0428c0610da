#!/usr/bin/python3
"""Convert an EMO checkpoint (zhangzjn/EMO's net.pth, or any EMO state_dict) to a visattn model file.

    /usr/bin/python3 tools/convert_emo.py net.pth EMO_1M emo_1m.safetensors [--config JSON]

VARIANT is EMO_1M, EMO_2M, EMO_5M, EMO_6M, or emo (the EMO constructor's defaults); --config gives
constructor arguments that differ from the variant's (e.g. '{"num_classes": 10}'). The state_dict
may be the file itself or under 'net', 'state_dict' or 'model', with or without DataParallel's
'module.' prefix. It is loaded strictly into tools/emo.py's EMO first, so a checkpoint of another
configuration fails here, naming the keys, rather than in C. BatchNorm's num_batches_tracked is
kept (visattn ignores it). Needs PyTorch (a tool, not the runtime): `visattn run`, `info`, `bench`
then take the output file alone.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emo  # noqa: E402
from export import export  # noqa: E402


def state_dict_of(obj):
    for key in ("net", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SystemExit("convert_emo: the checkpoint holds no state_dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("variant", choices=sorted(emo.VARIANTS))
    ap.add_argument("output")
    ap.add_argument("--config", default="{}", help="constructor arguments over the variant's")
    args = ap.parse_args()
    config = json.loads(args.config)
    model = emo.build(config, args.variant)
    sd = state_dict_of(torch.load(args.checkpoint, map_location="cpu"))
    want = model.state_dict()
    wrong = [k for k, v in sd.items() if k in want and tuple(v.shape) != tuple(want[k].shape)]
    if wrong:
        raise SystemExit(f"convert_emo: {args.checkpoint} is not an {args.variant} with config "
                         f"{json.dumps(config)}: keys of another shape {wrong[:5]}")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise SystemExit(f"convert_emo: {args.checkpoint} is not an {args.variant} with config "
                         f"{json.dumps(config)}: missing keys {missing[:5]}, unexpected keys "
                         f"{unexpected[:5]}")
    export(model, args.output, model=args.variant, config=config)
    print(f"wrote {args.output}: {args.variant} {json.dumps(config)}, "
          f"{sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
