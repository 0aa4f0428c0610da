#!/usr/bin/python3
"""Train the shipped Fashion-MNIST models (tools/backbone.py, one per attention block) and export
them to assets/models/<name>.safetensors, with their PyTorch test accuracy in results.json.

Reproducible: fixed seeds (weights, data order, augmentation), 2 CPU threads, no data loader
workers. Recipe: AdamW (lr 4e-3, weight decay 5e-4) with a one-cycle schedule, batch 256, label
smoothing 0.05; augmentation: random horizontal flip, random 28x28 crop of the image padded by 2.

    /usr/bin/python3 tools/train.py --attention all --epochs 3        # every model, in turn
    /usr/bin/python3 tools/train.py --attention cbam --epochs 1 --limit 6000 --out-dir ''
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import backbone  # noqa: E402
import fmnist  # noqa: E402
from export import export  # noqa: E402

NAMES = ["none", "se", "spatial", "cbam", "triplet", "shuffle", "double_attention", "irmb", "eca",
         "simam", "bam"]


def to_input(images, cfg):
    """uint8 N x 28 x 28 -> normalised float N x 1 x 28 x 28, as the C side preprocesses."""
    x = torch.from_numpy(images.astype("float32") / 255.0)[:, None]
    return (x - cfg["mean"][0]) / cfg["std"][0]


def augment(x, gen):
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    # Pad with the normalised value of a black pixel, so the border looks like background.
    bg = float(x.min())
    xp = F.pad(x, (2, 2, 2, 2), value=bg)
    dy = torch.randint(0, 5, (n,), generator=gen)
    dx = torch.randint(0, 5, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(n, 1, h, w + 4)
    xp = xp.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, 1, h, w)
    return xp.gather(3, cols)


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i:i + batch]).flatten(1).argmax(1) == y[i:i + batch]).sum())
    return 100.0 * correct / len(x)


def train_one(name, args, train, test):
    att = None if name == "none" else name
    cfg = backbone.model_config(att)
    torch.manual_seed(args.seed)
    model = backbone.build(cfg)
    xtr, ytr = to_input(train[0], cfg), torch.from_numpy(train[1].astype("int64"))
    xte, yte = to_input(test[0], cfg), torch.from_numpy(test[1].astype("int64"))
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    steps_per_epoch = (len(xtr) + args.batch - 1) // args.batch
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.25)
    gen = torch.Generator().manual_seed(args.seed + 1)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total, seen = 0.0, 0
        for i in range(0, len(xtr), args.batch):
            idx = perm[i:i + args.batch]
            xb = augment(xtr[idx], gen)
            loss = F.cross_entropy(model(xb).flatten(1), ytr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
            seen += len(idx)
        print(f"{name}: epoch {epoch + 1}/{args.epochs} loss {total / seen:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    train_s = time.time() - t0
    acc = evaluate(model, xte, yte)
    print(f"{name}: test accuracy {acc:.2f}% after {args.epochs} epochs, {train_s:.0f} s",
          flush=True)
    info = {"epochs": args.epochs, "seed": args.seed, "batch": args.batch, "lr": args.lr,
            "threads": args.threads, "train_images": len(xtr), "train_seconds": round(train_s, 1),
            "test_accuracy_torch": round(acc, 2),
            "params": sum(p.numel() for p in model.parameters())}
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        export(model.eval(), os.path.join(args.out_dir, f"{name}.safetensors"), model="backbone",
               config=cfg, extra_meta={"visattn.training": json.dumps(info)})
        path = os.path.join(args.out_dir, "results.json")
        results = {}
        if os.path.exists(path):
            with open(path) as f:
                results = json.load(f)
        results[name] = info
        with open(path, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.write("\n")
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attention", default="all", help=f"'all' or one of {', '.join(NAMES)}")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "..", "assets", "models"),
                    help="where to export ('' to skip exporting)")
    ap.add_argument("--data-dir", default=fmnist.DEFAULT_DIR)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = NAMES if args.attention == "all" else args.attention.split(",")
    for n in names:
        if n not in NAMES:
            ap.error(f"unknown attention '{n}'")
    train = fmnist.load("train", args.data_dir)
    test = fmnist.load("test", args.data_dir)
    t0 = time.time()
    for n in names:
        train_one(n, args, train, test)
    print(f"total {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
