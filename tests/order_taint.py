"""Which entries of a PyTorch computation depend on a float32 sum that may overflow in some order.

A GEMM-like op (a convolution, a matmul, a linear layer) sums products. Different BLAS kernels,
oneDNN builds and thread counts sum them in different orders, and where the partial sums can pass
FLT_MAX the result is order-dependent: +3e38 + 3e38 - 3e38 is +Inf in one order and 3e38 in
another; with both signs it can end as NaN, +Inf or -Inf. Such an entry has no single right answer,
and neither has anything computed from it.

An entry of a sum of terms t_i is order-independent when
  - the sum of |t_i| over its regular terms, the finite products below 2 FLT_MAX, stays below
    FLT_MAX: no partial sum of them can overflow in any order, so they sum to a finite value
    close to the exact one; and
  - its huge terms, finite products beyond 2 FLT_MAX, all have one sign, as have the infinite
    ones besides them. A huge product overflows when rounded alone; fused into an FMA whose
    addend is already infinite it does not, and leaves that Inf as it is: huge products of both
    signs (or a huge one and an Inf of the other sign) end as +Inf, -Inf or NaN by order.
A NaN term makes the entry NaN in any order. The ordinary case, all terms finite and small, is
the first condition alone.

`trace` runs a module and marks every output entry that depends on an order-dependent sum, by two
shadows carried beside each tensor through PyTorch's dispatcher:

  bound   For GEMM outputs, the sum of |products| over their regular terms, computed in float64
          from the inputs' own bounds, so that a chain of linear ops (through reshapes, transposes
          and eval BatchNorms) is bounded as a whole: visattn folds a BatchNorm into the conv
          before or after it (x s never formed: W diag(s) x) and may associate a chain differently
          from PyTorch (double_attention's (Wr G) D instead of Wr (G D)); the chain's bound covers
          the terms of every such form. A softmax's entries are bounded by 1, the bound of any
          other op's entries is |value|.
  taint   A probe: ordinary values (a standard normal input, the module's own weights) with NaN at
          tainted entries, run through the same ops, so that the NaNs spread exactly along data
          dependencies (a softmax spreads one along its row, a conv across its window). An
          order-dependent entry of a GEMM, and an entry of a BatchNorm whose bound reaches
          FLT_MAX / MARGIN, becomes NaN. An integer result (argmax) computed from tainted data
          taints everything it is used to index.

MARGIN = 1 + 2^-10 covers the rounding of partial sums (at most k * 2^-24 relative for k terms).
The probe must not produce NaN on its own: each op checks that, so a module whose ops the probe
cannot follow is an error, not a silently unchecked entry.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

aten = torch.ops.aten
FLT_MAX = float(np.finfo(np.float32).max)
MARGIN = 1.0 + 2.0 ** -10
GEMM_OPS = {aten.convolution.default, aten.mm.default, aten.bmm.default, aten.addmm.default,
            aten.baddbmm.default, aten.mv.default, aten.dot.default}
# Ops that only move entries: the bound moves with them.
SHAPE_OPS = {aten.view.default, aten._unsafe_view.default, aten._reshape_alias.default,
             aten.transpose.int, aten.permute.default, aten.expand.default, aten.t.default,
             aten.unsqueeze.default, aten.clone.default, aten.slice.Tensor, aten.detach.default,
             aten.cat.default, aten.stack.default, aten.repeat.default,
             aten.constant_pad_nd.default}


def _finite_abs64(t):
    a = t.detach().double().abs()
    return torch.where(torch.isfinite(a), a, torch.zeros_like(a))


def _batch_norm_bound(args, bound_in):
    """Eval BatchNorm y = x * s + t per channel: |y| and its terms stay within bound_in*|s| + |t|."""
    _, gamma, beta, mean, var, _, _, eps = args
    s = 1.0 / torch.sqrt(var.double() + eps)
    if gamma is not None:
        s = s * gamma.double()
    t = -mean.double() * s + (beta.double() if beta is not None else 0.0)
    shape = (1, -1) + (1,) * (bound_in.dim() - 2)
    b = bound_in * _finite_abs64(s).view(shape) + _finite_abs64(t).view(shape)
    return b


def _products(func, a, b, conv):
    """Every term of the GEMM as a tensor of shape (*output shape, K)."""
    if func is aten.convolution.default:
        stride, padding, dilation, groups = conv
        n, cout, kk = a.shape[0], b.shape[0], b[0].numel()
        cols = F.unfold(a, b.shape[2:], dilation=dilation, padding=padding, stride=stride)
        cols = cols.view(n, groups, kk, -1)
        t = cols[:, :, None] * b.reshape(groups, cout // groups, kk)[None, :, :, :, None]
        return t.reshape(n, cout, kk, -1).transpose(2, 3)
    if func is aten.bmm.default:
        return (a[:, :, :, None] * b[:, None]).transpose(2, 3)
    return (a[:, :, None] * b[None]).transpose(1, 2)  # mm, addmm


def _order_dependent(func, args, kwargs, bound_of):
    """The GEMM's order-dependent entries, from its terms (see the module's docstring); None for a
    GEMM op this does not take apart."""
    alpha, extra, conv = 1.0, None, None
    if func is aten.convolution.default:
        x, w, extra, stride, padding, dilation, transposed, _, groups = args
        if transposed:
            return None
        conv = (stride, padding, dilation, groups)
    elif func in (aten.mm.default, aten.bmm.default):
        x, w = args
    elif func is aten.addmm.default:
        extra, x, w = args
        alpha = abs(kwargs.get("alpha", 1.0))
        extra_scale = abs(kwargs.get("beta", 1.0))
    else:
        return None
    actual = _products(func, x.double(), w.double(), conv) * alpha
    regular = torch.isfinite(actual) & (actual.abs() < 2 * FLT_MAX)
    terms = _products(func, bound_of(x), bound_of(w), conv) * alpha
    bound = torch.where(regular, terms, torch.zeros_like(terms)).sum(-1)
    if extra is not None:
        e = bound_of(extra)
        if conv is not None:
            e = e.view(-1, 1)
        elif func is aten.addmm.default:
            e = e * extra_scale
        bound = bound + e
    huge = ~regular & torch.isfinite(actual)
    inf = torch.isinf(actual)
    mixed = (((huge & (actual > 0)).any(-1) & ((huge | inf) & (actual < 0)).any(-1)) |
             ((huge & (actual < 0)).any(-1) & ((huge | inf) & (actual > 0)).any(-1)))
    dep = ((bound >= FLT_MAX / MARGIN) | mixed) & ~torch.isnan(actual).any(-1)
    if conv is not None:
        dep = dep.view(dep.shape[:2] + tuple(_conv_out_hw(x, w, conv)))
    return dep


def _conv_out_hw(x, w, conv):
    stride, padding, dilation, _ = conv
    return [(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (w.shape[2 + i] - 1) - 1) // stride[i]
            + 1 for i in range(2)]


class _Trace(TorchDispatchMode):
    def __init__(self, seed):
        super().__init__()
        self.gen = torch.Generator().manual_seed(seed)
        # id(tensor) -> [tensor, taint shadow, bound or None, index tainted]; the tensor is held so
        # that its id stays its own for the trace's lifetime.
        self.info = {}

    def entry(self, t):
        e = self.info.get(id(t))
        if e is None:
            # Never seen (weights, statistics): untainted, its own values with any NaN or Inf
            # replaced by 0, so that the probe keeps the magnitudes of an ordinary forward.
            s = torch.where(torch.isfinite(t), t, torch.zeros_like(t)) if t.is_floating_point() \
                else t.clone()
            e = self.info[id(t)] = [t, s, None, False]
        return e

    def seed_input(self, x):
        """The input's probe: standard normal values, whatever the input's own are."""
        s = torch.randn(x.shape, generator=self.gen, dtype=torch.float64).to(x.dtype)
        self.info[id(x)] = [x, s, None, False]

    def probe(self, t):
        return self.entry(t)[1]

    def bound(self, t):
        b = self.entry(t)[2]
        return b if b is not None else _finite_abs64(t)

    def taint(self, t):
        return torch.isnan(self.probe(t))

    def _map(self, fn, args, kwargs):
        return tree_map(lambda a: fn(a) if isinstance(a, torch.Tensor) else a, (args, kwargs))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        tensors_in = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if func._schema.name.endswith("_") or any(a.is_out for a in func._schema.arguments):
            raise RuntimeError(f"order_taint: in-place op {func} is not followed")
        # An integer result computed from tainted data (argmax) taints whatever it indexes.
        index_tainted = any(self.entry(t)[3] for t in tensors_in if not t.is_floating_point())
        any_taint = any(bool(self.taint(t).any()) for t in tensors_in if t.is_floating_point())

        # A factory op (ones, empty) has no inputs to follow: its shadow is its value.
        if tensors_in:
            sargs, skwargs = self._map(self.probe, args, kwargs)
            shadow = func(*sargs, **skwargs)
        else:
            shadow = tree_map(lambda o: o.clone() if isinstance(o, torch.Tensor) else o, out)

        bounds, over = None, None
        if func in GEMM_OPS or func in SHAPE_OPS:
            bargs, bkwargs = self._map(
                lambda a: self.bound(a) if a.is_floating_point() else a, args, kwargs)
            if func in GEMM_OPS:
                bkwargs = {k: abs(v) if isinstance(v, (int, float)) else v
                           for k, v in bkwargs.items()}
            bounds = func(*bargs, **bkwargs)
            if func in GEMM_OPS:
                over = bounds >= FLT_MAX / MARGIN
                if over.any():
                    dep = _order_dependent(func, args, kwargs, self.bound)
                    over = over if dep is None else dep
        elif func is aten._softmax.default:
            # Entries in [0, 1]: bounding them by 1 makes a chain through a softmax bound the
            # products formed before it too (double_attention's Wr G before its product with D).
            bounds = torch.ones_like(out, dtype=torch.float64)
        elif func is aten.native_batch_norm.default and not args[5]:
            # visattn folds an eval BatchNorm into the conv before or after it. (With training
            # set it is an InstanceNorm's statistics pass: normalised values, bounded by value.)
            bounds = (_batch_norm_bound(args, self.bound(args[0])), None, None)
            over = bounds[0] >= FLT_MAX / MARGIN
        if over is not None and over.any():
            any_taint = True
            first = tree_flatten(shadow)[0][0]
            tainted = torch.where(over, torch.full_like(first, float("nan")), first)
            shadow = tainted if isinstance(shadow, torch.Tensor) else (tainted,) + tuple(shadow[1:])

        outs = tree_flatten(out)[0]
        shadows = tree_flatten(shadow)[0]
        bounds_l = tree_flatten(bounds)[0] if bounds is not None else []
        bounds_l += [None] * (len(outs) - len(bounds_l))
        for o, s, b in zip(outs, shadows, bounds_l):
            if not isinstance(o, torch.Tensor):
                continue
            if not o.is_floating_point():
                self.info[id(o)] = [o, s, None, any_taint or index_tainted]
                continue
            if index_tainted:
                s = torch.full_like(s, float("nan"))
            elif not any_taint and tensors_in and bool(torch.isnan(s).any()):
                raise RuntimeError(f"order_taint: the probe made NaN in {func} by itself")
            self.info[id(o)] = [o, s, b, False]
        return out


def trace(run, x, seed=0):
    """Run run(x) -> dict name -> tensor (the module's output and maps) and return
    (results, order-dependent masks as numpy bool arrays, same names)."""
    mode = _Trace(seed)
    with torch.no_grad(), mode:
        mode.seed_input(x)
        results = run(x)
    masks = {}
    for k, t in results.items():
        if id(t) not in mode.info:
            raise RuntimeError(f"order_taint: {k} was not computed under the trace")
        masks[k] = mode.taint(t).numpy()
    return results, masks


def self_test():
    """The tracer on sums whose order-dependence is known; raises AssertionError if it is wrong."""
    big = 3e38

    def lin(w):
        return lambda x: {"y": torch.nn.functional.linear(x, w)}

    w = torch.tensor([[1.0, 1.0, 1.0], [1e-30, 1e-30, 1e-30]])
    _, m = trace(lin(w), torch.tensor([[big, big, -big]]))
    assert m["y"].tolist() == [[True, False]], m  # +3e38 +3e38 -3e38: Inf or 3e38 by order
    _, m = trace(lin(w), torch.tensor([[1.0, 2.0, float("inf")]]))
    assert not m["y"].any(), m  # an Inf term with small finite ones: +Inf in any order
    # A chain: each product alone is small, the chain's terms are not (visattn's association).
    a = torch.full((1, 4), 1e19)
    b = torch.tensor([[1e18], [-1e18], [1e18], [-1e18]])
    c = torch.full((1, 3), 100.0)
    _, m = trace(lambda x: {"y": (x @ b) @ c}, a)
    assert m["y"].all(), m
    _, m = trace(lambda x: {"y": torch.softmax(torch.cat([x @ b, x @ b * 0 + 1], 1), 1)},
                 torch.full((1, 4), 1.0))
    assert not m["y"].any(), m
    # Softmax spreads the taint along its row only.
    x = torch.tensor([[big, big, -big], [1.0, 2.0, 3.0]])
    w = torch.eye(3).repeat(2, 1)
    w[0] = 1.0
    _, m = trace(lambda x: {"y": torch.softmax(torch.nn.functional.linear(x, w), 1)}, x)
    assert m["y"].tolist() == [[True] * 6, [False] * 6], m
    # A conv whose sum stays in range but whose folded BatchNorm scale takes it out: the terms
    # visattn sums are the scaled ones.
    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    bn = torch.nn.BatchNorm2d(1).eval()
    with torch.no_grad():
        conv.weight.fill_(1.0)
        bn.weight.fill_(4.0)
    _, m = trace(lambda x: {"y": bn(conv(x))}, torch.tensor([[[[1e38, 1.0]]]]))
    assert m["y"].tolist() == [[[[True, False]]]], m
    # A product reassociated across a softmax: (W G) D may overflow where W (G D) does not. Here
    # W G = 2e39 is Inf; times D's 1 it is Inf like W (G D) (products of 1e39: Inf in any order),
    # times D's 0 it is NaN where W (G D) = 0.
    w = torch.tensor([[1e20, 1e20]])
    _, m = trace(lambda x: {"y": w @ (x @ torch.softmax(torch.tensor([[0.0, -200.0]]), 1))},
                 torch.full((2, 1), 1e19))
    assert m["y"].tolist() == [[False, True]], m
    # Products beyond 2 FLT_MAX: of one sign +Inf in any order; of both signs +Inf, -Inf or NaN
    # (an FMA leaves an infinite addend as it is); with a NaN term NaN.
    w = torch.tensor([[1e30, 1e30], [1e30, -1e30], [1e30, 1e-30], [-1e30, float("nan")]])
    r, m = trace(lin(w), torch.tensor([[1e30, 1e30]]))
    assert m["y"].tolist() == [[False, True, False, False]], m
    assert r["y"][0, 0] == float("inf") and torch.isnan(r["y"][0, 3]), r
    conv = torch.nn.Conv2d(2, 4, 3, padding=1, groups=2)
    with torch.no_grad():
        conv.weight.fill_(0.6)
        conv.weight[0, 0, 0, 0] = 1e10
    x = torch.ones(1, 2, 4, 5)
    x[0, 0, 2, 2] = 1e30
    x[0, 1, 0, :2] = 3e38
    r, m = trace(lambda x: {"y": conv(x)}, x)
    assert r["y"][0, 0, 3, 3] == float("inf") and not m["y"][0, :2].any(), m  # a huge product
    # Windows holding both 3e38 entries: 1.8e38 + 1.8e38 + small terms.
    assert m["y"][0, 2:, :2, :2].all() and m["y"][0, 2:].sum() == 8, m
    # A BatchNorm before a conv: x s overflows in PyTorch's order, W diag(s) x need not.
    bn2 = torch.nn.BatchNorm2d(1).eval()
    with torch.no_grad():
        bn2.weight.fill_(4.0)
    conv2 = torch.nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv2.weight.fill_(0.25)
    _, m = trace(lambda x: {"y": conv2(bn2(x))}, torch.tensor([[[[1e38, 1.0]]]]))
    assert m["y"].tolist() == [[[[True, False]]]], m
