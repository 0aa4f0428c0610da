"""Our own PyTorch versions of visattn's blocks.

Each block module (se.py, spatial.py, ...) defines, with the official implementation's state_dict
keys and constructor argument names:

    NAME            registry name used by the C library
    build(config)   -> nn.Module (config: dict of constructor arguments; missing keys take the
                       official defaults)
    maps(module)    -> dict map-name -> tensor recorded by the last forward; names and shapes are
                       the C block's maps
    PARITY_CASES    list of (config, (N, C, H, W)) checked against the C library in CI

These are for tools and tests only: nothing at runtime needs Python.
"""
import importlib

BLOCK_NAMES = ["se", "spatial", "cbam", "triplet", "shuffle", "double_attention", "irmb", "eca",
               "simam", "bam"]


def load(name):
    """The reference module for a block name."""
    return importlib.import_module(f"visattn_ref.{name}")


def available():
    """Block names whose reference module exists (lets the suite grow one block at a time)."""
    out = []
    for n in BLOCK_NAMES:
        try:
            load(n)
        except ModuleNotFoundError:
            continue
        out.append(n)
    return out
