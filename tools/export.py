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
