"""Whole networks in PyTorch as visattn's network models read them (backbone/resnet.c,
docs/networks/resnet.md; backbone/mbconv.c, docs/networks/mobilenet_efficientnet.md: MobileNetV3
and EfficientNet B0-B7 and V2-S/M/L, the SE as the slot, replaced or removed by the config's
attention; backbone/regnet.c, docs/networks/regnet.md: RegNetY, likewise): torchvision's own models, with an attention slot filled by our reference
blocks (tools/visattn_ref) when the config names one. For tools and tests only.

    build("torchvision", "resnet50", config)  -> nn.Module in eval mode
    maps(module)                               -> the maps the C model records in its last forward
    load_checkpoint(module, path, label)       -> read a checkpoint into module (see its comment)

The config holds the torchvision builder's keyword arguments (num_classes, groups,
width_per_group, replace_stride_with_dilation, zero_init_residual; for the generic "resnet" also
block ("BasicBlock" / "Bottleneck") and layers) and the slot's: attention (a block name or None),
attention_args, attention_reduction (16), attention_key ("se", timm's attribute name).

The ResNets the attention blocks' authors published (docs/networks/attention_resnets.md;
backbone/resnet.c's ResidualNet and sa_resnet*): sources "attention-module" and
"triplet-attention" (builder ResidualNet; config network_type, depth, num_classes, att_type) and
"SA-Net" (sa_resnet50, sa_resnet101, sa_resnet152; config num_classes); "ECANet" (eca_resnet18 ...
eca_resnet152; config k_size, num_classes, pretrained) and "SimAM" (imagenet.create_net: config
arch, attention_type, attention_param; cifar.create_net: also block_type, num_class), registered
in C as MODEL_NAMES says. Our own modules with the official state_dict keys in the official order,
our reference blocks in the slot.
"""
import types

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import resnet as tv_resnet

import backbone
import visattn_ref

RESNETS = ["resnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "resnext50_32x4d", "wide_resnet50_2"]
MOBILENETS = ["mobilenet_v3_small", "mobilenet_v3_large"]
EFFICIENTNETS = [f"efficientnet_b{i}" for i in range(8)] + \
    [f"efficientnet_v2_{v}" for v in "sml"]
REGNETS = ["regnet"] + [f"regnet_y_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf",
                                                   "16gf", "32gf", "128gf")]
SOURCES = {"torchvision": RESNETS + MOBILENETS + EFFICIENTNETS + REGNETS,
           "attention-module": ["ResidualNet"], "triplet-attention": ["ResidualNet"],
           "SA-Net": ["sa_resnet50", "sa_resnet101", "sa_resnet152"],
           "ECANet": [f"eca_resnet{d}" for d in (18, 34, 50, 101, 152)],
           "SimAM": ["imagenet.create_net", "cifar.create_net"],
           "EMO": ["EMO_1M", "EMO_2M", "EMO_5M", "EMO_6M", "emo"]}
# The C model a SOURCE:BUILDER is registered as, where the builder's name is not it.
MODEL_NAMES = {("SimAM", "imagenet.create_net"): "simam_resnet",
               ("SimAM", "cifar.create_net"): "simam_cifar_resnet"}


def model_name(source, builder):
    return MODEL_NAMES.get((source, builder), builder)
SLOT_KEYS = ("attention", "attention_args", "attention_reduction", "attention_key")


def _record(model, stages):
    """Hooks that keep what the C model records: each stage's channel mean (the stage energy maps
    without a slot) and the head's input (for the CAM)."""
    def stage_hook(mod, inp, out):
        mod.visattn_energy = out.mean(dim=1, keepdim=True).detach()

    def head_hook(mod, inp, out):
        model.visattn_features = inp[0].detach()

    for stage in stages:
        stage.register_forward_hook(stage_hook)
    model.avgpool.register_forward_hook(head_hook)
    return model


def _slot_forward(self, x):
    """torchvision's BasicBlock / Bottleneck forward with the slot after the last BN."""
    out = self.relu(self.bn1(self.conv1(x)))
    if isinstance(self, tv_resnet.Bottleneck):
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
    else:
        out = self.bn2(self.conv2(out))
    out = getattr(self, self.visattn_slot)(out)
    identity = x if self.downsample is None else self.downsample(x)
    return self.relu(out + identity)


def _resnet(builder, config):
    kwargs = {k: v for k, v in config.items() if k not in SLOT_KEYS}
    if builder == "resnet":
        blocks = {"BasicBlock": tv_resnet.BasicBlock, "Bottleneck": tv_resnet.Bottleneck}
        kwargs["block"] = blocks[kwargs["block"]]
        model = tv_resnet.ResNet(**kwargs)
    else:
        model = getattr(torchvision.models, builder)(**kwargs)
    model.visattn_attention = None
    name = config.get("attention")
    if name:
        key = config.get("attention_key", "se")
        slot_cfg = {"attention": name, "attention_args": config.get("attention_args") or {},
                    "attention_reduction": config.get("attention_reduction", 16)}
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
            for blk in layer:
                last = blk.bn3 if isinstance(blk, tv_resnet.Bottleneck) else blk.bn2
                ref_name, args = backbone.attention_config(slot_cfg, last.num_features)
                blk.add_module(key, visattn_ref.load(ref_name).build(args))
                blk.visattn_slot = key
                blk.forward = types.MethodType(_slot_forward, blk)
        model.visattn_attention = backbone.ALIASES.get(name, name)

    return _record(model, (model.layer1, model.layer2, model.layer3, model.layer4))


class _PublishedBlock(nn.Module):
    """BasicBlock (two 3x3 convs, the stride on the first) or Bottleneck (1x1, 3x3 with the
    stride, 1x1 to 4 x planes), an attention module after the last BN under the attribute `slot`,
    the shortcut, ReLU of the sum. The attributes are registered in the official order: the
    slot after `downsample` (attention-module, triplet-attention) or before it (SA-Net's `sa`,
    ECA-Net's `eca`). slot "conv2": SimAM's place, conv2 = nn.Sequential(conv2, attention), on
    conv2's output before bn2. shortcut: the projection's attribute (SimAM's CIFAR "shortcut")."""

    def __init__(self, cin, planes, stride, bottleneck, slot, attention, slot_first,
                 shortcut="downsample"):
        super().__init__()
        cout = planes * (4 if bottleneck else 1)
        if bottleneck:
            shapes = [(cin, planes, 1, 1), (planes, planes, 3, stride), (planes, cout, 1, 1)]
        else:
            shapes = [(cin, planes, 3, stride), (planes, planes, 3, 1)]
        self.nconv = len(shapes)
        for i, (a, b, k, st) in enumerate(shapes, 1):
            self.add_module(f"conv{i}", nn.Conv2d(a, b, k, stride=st, padding=k // 2, bias=False))
            self.add_module(f"bn{i}", nn.BatchNorm2d(b))
        down = None
        if stride != 1 or cin != cout:
            down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                 nn.BatchNorm2d(cout))
        self.visattn_module = [attention]  # a list: not registered a second time
        self.visattn_slot = slot if attention is not None else None
        if slot == "conv2" and attention is not None:
            self.conv2 = nn.Sequential(self.conv2, attention)
            self.visattn_slot = None  # runs inside conv2
        elif slot_first and attention is not None:
            self.add_module(slot, attention)
        self.shortcut_key = shortcut
        self.add_module(shortcut, down)
        if not slot_first and attention is not None and slot != "conv2":
            self.add_module(slot, attention)

    def forward(self, x):
        out = x
        for i in range(1, self.nconv + 1):
            out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
            if i < self.nconv:
                out = torch.relu(out)
        if self.visattn_slot:
            out = getattr(self, self.visattn_slot)(out)
        down = getattr(self, self.shortcut_key)
        identity = x if down is None else down(x)
        return torch.relu(out + identity)


class _PublishedResNet(nn.Module):
    """conv1/bn1 (7x7 stride 2 + max-pool, or the CIFAR 3x3 stride 1 without), layer1..4 of
    _PublishedBlock, `avgpool`, fc. pool_window k: nn.AvgPool2d(k) then a flatten, which (as in
    the official code) only fits the fc when the final map gives one window; 0: global mean."""

    def __init__(self, bottleneck, layers, num_classes, cifar, pool_window, slot, make_attention,
                 slot_first, width=64, fc="fc", shortcut="downsample", bam=False):
        """make_attention(channels, stage). width: the stem's and stage 1's channels (SimAM's
        CIFAR ResNets: 16, three stages). bam: attention-module's bam1 .. bam3 after the stages
        but the last (registered after bn1, as the official __init__ does)."""
        super().__init__()
        self.cifar = cifar
        if cifar:
            self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.visattn_bams = []
        if bam:
            for i in range(len(layers) - 1):
                c = (width << i) * (4 if bottleneck else 1)
                self.add_module(f"bam{i + 1}", visattn_ref.load("bam").build({"gate_channel": c}))
                self.visattn_bams.append(f"bam{i + 1}")
        cin = width
        for i, n in enumerate(layers):
            planes = width << i
            blocks = []
            for j in range(n):
                cout = planes * (4 if bottleneck else 1)
                att = make_attention(cout, i) if make_attention else None
                blocks.append(_PublishedBlock(cin, planes, 2 if i and not j else 1, bottleneck,
                                              slot, att, slot_first, shortcut))
                cin = cout
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.visattn_layers = [getattr(self, f"layer{i + 1}") for i in range(len(layers))]
        self.avgpool = nn.AvgPool2d(pool_window) if pool_window else nn.AdaptiveAvgPool2d(1)
        self.fc_key = fc
        self.add_module(fc, nn.Linear(cin, num_classes))

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        if not self.cifar:
            x = F.max_pool2d(x, 3, stride=2, padding=1)
        for i, layer in enumerate(self.visattn_layers):
            x = layer(x)
            if i < len(self.visattn_bams):
                x = getattr(self, self.visattn_bams[i])(x)
        return getattr(self, self.fc_key)(self.avgpool(x).flatten(1))


# att_type -> (our block, its attribute in the official block) for each ResidualNet repository.
# BAM: no slot in the blocks, bam1 .. bam3 between the stages.
RESIDUALNET_ATT = {"attention-module": {"CBAM": ("cbam", "cbam"), "BAM": ("bam", None)},
                   "triplet-attention": {"TripletAttention": ("triplet", "triplet_attention")}}
RESIDUALNET_DEPTHS = {18: (False, [2, 2, 2, 2]), 34: (False, [3, 4, 6, 3]),
                      50: (True, [3, 4, 6, 3]), 101: (True, [3, 4, 23, 3])}
SA_LAYERS = {"sa_resnet50": [3, 4, 6, 3], "sa_resnet101": [3, 4, 23, 3],
             "sa_resnet152": [3, 8, 36, 3]}


def _published(source, builder, config):
    """The twins of ResidualNet (attention-module, triplet-attention) and sa_resnet* (SA-Net),
    refusing what the C models refuse (ValueError / TypeError / NotImplementedError)."""
    if source == "SA-Net":
        unknown = sorted(set(config) - {"num_classes"})
        if unknown:
            raise TypeError(f"{builder} takes num_classes only, not {unknown[0]!r}")
        num_classes = config.get("num_classes", 1000)

        def make(c, stage):  # sa_layer(planes * 4), groups 64
            return visattn_ref.load("shuffle").build({"channel": c, "groups": 64})

        model = _PublishedResNet(True, SA_LAYERS[builder], num_classes, False, 0, "sa", make,
                                 slot_first=True)
        name = "shuffle"
    elif source == "ECANet":
        model, name = _eca(builder, config), "eca"
    elif source == "SimAM":
        model, name = _simam(builder, config)
    else:
        args = ("network_type", "depth", "num_classes", "att_type")
        unknown = sorted(set(config) - set(args))
        if unknown:
            raise TypeError(f"ResidualNet got an unexpected argument {unknown[0]!r}")
        missing = [a for a in args if a not in config]
        if missing:
            raise TypeError(f"ResidualNet missing the argument {missing[0]!r} (network_type, "
                            "depth, num_classes, att_type have no defaults)")
        net, depth, att = config["network_type"], config["depth"], config["att_type"]
        if net not in ("ImageNet", "CIFAR10", "CIFAR100"):
            raise ValueError("network_type must be 'ImageNet', 'CIFAR10' or 'CIFAR100', got "
                             f"{net!r}")
        if depth not in RESIDUALNET_DEPTHS:
            raise ValueError(f"depth must be 18, 34, 50 or 101, got {depth!r}")
        known = RESIDUALNET_ATT[source]
        if att is not None and att not in known:
            # The official ResidualNet builds a plain ResNet for an att_type it does not know.
            raise ValueError(f"{source}'s ResidualNet places att_type " +
                             " or ".join(repr(k) for k in known) +
                             f"; {att!r} would build no attention there (give null for that)")
        name, slot = known[att] if att else (None, None)
        bam = name == "bam"

        def make(c, stage):  # CBAM(planes * 4, 16), TripletAttention(planes * 4, 16)
            return visattn_ref.load(name).build({"gate_channels": c})

        bottleneck, layers = RESIDUALNET_DEPTHS[depth]
        cifar = net != "ImageNet"
        model = _PublishedResNet(bottleneck, layers, config["num_classes"], cifar,
                                 4 if cifar else 7, slot, make if att and not bam else None,
                                 slot_first=False, bam=bam)
    # What maps() reads, as for torchvision's ResNets: stage energies without attention, the CAM
    # over the whole final map (the head's input).
    model.visattn_attention = name
    return _record(model, model.visattn_layers)


ECA_LAYERS = {"eca_resnet18": (False, [2, 2, 2, 2]), "eca_resnet34": (False, [3, 4, 6, 3]),
              "eca_resnet50": (True, [3, 4, 6, 3]), "eca_resnet101": (True, [3, 4, 23, 3]),
              "eca_resnet152": (True, [3, 8, 36, 3])}


def _eca(builder, config):
    """eca_resnet*(k_size=[3, 3, 3, 3], num_classes=1000, pretrained=False): eca_layer(C,
    k_size[stage]) after the last BN, registered before downsample; a global head."""
    unknown = sorted(set(config) - {"k_size", "num_classes", "pretrained"})
    if unknown:
        raise TypeError(f"{builder} got an unexpected argument {unknown[0]!r}")
    k = config.get("k_size", [3, 3, 3, 3])
    if not isinstance(k, list) or len(k) != 4 or \
            not all(isinstance(v, int) and v % 2 == 1 and 1 <= v <= 255 for v in k):
        raise ValueError(f"k_size must list 4 odd kernel sizes in 1..255, one per stage, got {k!r}")
    bottleneck, layers = ECA_LAYERS[builder]

    def make(c, stage):
        return visattn_ref.load("eca").build({"channel": c, "k_size": k[stage]})

    return _PublishedResNet(bottleneck, layers, config.get("num_classes", 1000), False, 0, "eca",
                            make, slot_first=True)


SIMAM_IMAGENET = {"resnet18": (False, [2, 2, 2, 2]), "resnet34": (False, [3, 4, 6, 3]),
                  "resnet50": (True, [3, 4, 6, 3]), "resnet101": (True, [3, 4, 23, 3]),
                  "resnet152": (True, [3, 8, 36, 3])}
# Blocks per stage of SimAM's CIFAR ResNets (networks/cifar/resnet.py): basic, bottlenect.
SIMAM_CIFAR = {"resnet20": (3, 3), "resnet32": (5, 5), "resnet56": (9, 6), "resnet110": (18, 12),
               "resnet164": (27, 18)}


def _simam(builder, config):
    """SimAM's create_net(args), args' fields as the config: simam_module(e_lambda =
    attention_param) on conv2's output, before bn2 (conv2 = nn.Sequential(conv2, simam))."""
    cifar = builder == "cifar.create_net"
    fields = {"arch", "attention_type", "attention_param"} | \
        ({"block_type", "num_class"} if cifar else set())
    unknown = sorted(set(config) - fields)
    if unknown:
        raise TypeError(f"{builder} reads no field {unknown[0]!r} of args")
    for f in ("arch", "num_class") if cifar else ("arch",):
        if f not in config:
            raise ValueError(f"{builder} needs the field {f!r}")
    arch = str(config["arch"]).lower()
    att = config.get("attention_type", "none")
    if att not in ("none", "simam"):
        raise ValueError(f"attention_type must be 'none' or 'simam', got {att!r}")
    if att == "simam" and "attention_param" not in config:
        raise ValueError("attention_type 'simam' needs attention_param (e_lambda)")

    def make(c, stage):
        return visattn_ref.load("simam").build({"channels": c,
                                                "e_lambda": config["attention_param"]})

    make = make if att == "simam" else None
    if not cifar:
        if arch not in SIMAM_IMAGENET:
            raise ValueError(f"arch must be one of {', '.join(SIMAM_IMAGENET)}, got {arch!r}")
        bottleneck, layers = SIMAM_IMAGENET[arch]
        model = _PublishedResNet(bottleneck, layers, 1000, False, 0, "conv2", make,
                                 slot_first=False)
    else:
        block = str(config.get("block_type", "basic")).lower()
        if block not in ("basic", "bottlenect"):
            raise ValueError(f"block_type must be 'basic' or 'bottlenect', got {block!r}")
        if arch not in SIMAM_CIFAR:
            raise ValueError(f"arch must be one of {', '.join(SIMAM_CIFAR)}, got {arch!r}")
        n = SIMAM_CIFAR[arch][block == "bottlenect"]
        model = _PublishedResNet(block == "bottlenect", [n] * 3, config["num_class"], True, 0,
                                 "conv2", make, slot_first=False, width=16, fc="linear",
                                 shortcut="shortcut")
    return model, ("simam" if make else None)


def _se_blocks(model):
    """(scope, block Sequential, index of the SE in it) of every inverted residual with an SE,
    in order: MobileNetV3's use_se blocks, every EfficientNet MBConv (backbone/mbconv.c); never
    a FusedMBConv (EfficientNetV2), whose block holds convs only."""
    out = []
    for name, mod in model.features.named_modules():
        if not name or not hasattr(mod, "block"):
            continue
        for k, layer in enumerate(mod.block):
            if isinstance(layer, (torchvision.ops.SqueezeExcitation, nn.Identity)) or \
                    getattr(layer, "visattn_slot", False):
                out.append((f"features.{name}.", mod.block, k))
    return out


def _keep_scale(se):
    """torchvision's own SE in a slot: record its scale as our reference block does."""
    def keep(mod, inp, out):
        se.last_scale = out.detach()
    se.scale_activation.register_forward_hook(keep)


def _se_slot_block(name, args, c, squeeze, act, scale_act, reduction):
    """The reference block a torchvision SE slot of c channels holds (net.c's
    va_net_se_slot_json): our se with the SE's squeeze width and the family's activations unless
    args set others, or any other block by the attention rule."""
    if name == "se":
        ref_name, a = "se", {"activation": act, "scale_activation": scale_act, **args,
                             "input_channels": c, "squeeze_channels": squeeze}
    else:
        ref_name, a = backbone.attention_config(
            {"attention": name, "attention_args": args, "attention_reduction": reduction}, c)
    return visattn_ref.load(ref_name).build(a)


def _mbconv(builder, config):
    """torchvision's MobileNetV3 / EfficientNet; the SE replaced by our reference block when the
    config's attention names another (or given other activations), removed when it is None."""
    kwargs = {k: v for k, v in config.items() if k not in SLOT_KEYS}
    if builder.startswith("efficientnet"):
        for k in ("width_mult", "depth_mult", "dropout", "norm_layer", "last_channel"):
            if k in kwargs:  # torchvision swallows some silently; visattn refuses them all
                raise ValueError(f"'{k}' is fixed by the builder {builder}")
    model = getattr(torchvision.models, builder)(**kwargs)
    effnet = builder.startswith("efficientnet")
    name = config.get("attention", "se")
    name = backbone.ALIASES.get(name, name) if name else None
    args = dict(config.get("attention_args") or {})
    for scope, seq, k in _se_blocks(model):
        se = seq[k]
        if name is None:
            seq[k] = nn.Identity()
            continue
        if name == "se" and not args:
            _keep_scale(se)
            se.visattn_slot = True
            continue
        blk = _se_slot_block(name, args, se.fc1.in_channels, se.fc1.out_channels,
                             "silu" if effnet else "relu",
                             "sigmoid" if effnet else "hardsigmoid",
                             config.get("attention_reduction", 4))
        blk.visattn_slot = True
        seq[k] = blk
    model.visattn_attention = name
    return _record(model, ())


REGNET_INIT = ("depth", "w_0", "w_a", "w_m", "group_width", "bottleneck_multiplier", "se_ratio")


def _regnet(builder, config):
    """torchvision's RegNet (backbone/regnet.c): a regnet_y_* builder, or "regnet" from
    BlockParams.from_init_params' arguments; the SE at f.se replaced by our reference block when
    the config names another (or gives it other activations), removed when it is None, added
    where torchvision has none (se_ratio None) when the config names a block."""
    from functools import partial
    from torchvision.models import regnet as tv_regnet
    kwargs = {k: v for k, v in config.items() if k not in SLOT_KEYS}
    if builder == "regnet":
        params = tv_regnet.BlockParams.from_init_params(
            **{k: kwargs.pop(k) for k in REGNET_INIT if k in kwargs})
        model = tv_regnet.RegNet(params, norm_layer=partial(nn.BatchNorm2d, eps=1e-5), **kwargs)
        se_ratio = params.se_ratio
    else:
        model = getattr(torchvision.models, builder)(**kwargs)
        se_ratio = 0.25
    name = config.get("attention", "se" if se_ratio else None)
    name = backbone.ALIASES.get(name, name) if name else None
    args = dict(config.get("attention_args") or {})
    for stage in model.trunk_output:
        for blk in stage:
            f = blk.f
            w_b = f.b[0].out_channels
            if name is None:
                if hasattr(f, "se"):
                    f.se = nn.Identity()
                continue
            if name == "se" and not args and hasattr(f, "se"):
                _keep_scale(f.se)
                continue
            blk_ref = _se_slot_block(name, args, w_b,
                                     f.se.fc1.out_channels if name == "se" else None, "relu",
                                     "sigmoid", config.get("attention_reduction", 4))
            if hasattr(f, "se"):
                f.se = blk_ref
            else:  # the slot's place in the Sequential: after f.b
                mods = list(f._modules.items())
                f._modules.clear()
                for k, m in mods:
                    f._modules[k] = m
                    if k == "b":
                        f._modules["se"] = blk_ref
    model.visattn_attention = name
    return _record(model, model.trunk_output)


def _regnet_maps(model, logits):
    out = {}
    for s, stage in enumerate(model.trunk_output, 1):
        if model.visattn_attention is None:
            out[f"trunk_output.block{s}.energy"] = stage.visattn_energy
            continue
        ref = visattn_ref.load(model.visattn_attention)
        for j, blk in enumerate(stage):
            for k, v in ref.maps(blk.f.se).items():
                out[f"trunk_output.block{s}.block{s}-{j}.{k}"] = v.detach()
    top = logits.argmax(dim=1)
    out["cam"] = torch.einsum("nc,nchw->nhw", model.fc.weight[top],
                              model.visattn_features)[:, None].detach()
    return out


def build(source, builder, config=None):
    if source not in SOURCES or builder not in SOURCES[source]:
        raise ValueError(f"unknown network {source}:{builder} (known: " + ", ".join(
            f"{s}:{b}" for s in SOURCES for b in SOURCES[s]) + ")")
    if source == "EMO":  # tools/emo.py, zhangzjn/EMO's model (backbone/emo.c)
        import emo
        return emo.build(dict(config or {}), builder).eval()
    if source != "torchvision":
        return _published(source, builder, dict(config or {})).eval()
    if builder in RESNETS:
        return _resnet(builder, dict(config or {})).eval()
    if builder in REGNETS:
        return _regnet(builder, dict(config or {})).eval()
    return _mbconv(builder, dict(config or {})).eval()


def _mbconv_maps(model, logits):
    out = {}
    if model.visattn_attention is not None:
        ref = visattn_ref.load(model.visattn_attention)
        for scope, seq, k in _se_blocks(model):
            for name, v in ref.maps(seq[k]).items():
                out[scope + name] = v.detach()
    top = logits.argmax(dim=1)
    feats = model.visattn_features
    cls = model.classifier
    if isinstance(cls[0], nn.Linear):
        # MobileNetV3's head linearised at the sample (backbone/net.c head_run): hardswish(h) =
        # g(h) h with g = relu6(h + 3) / 6; w_eff = sum_j W2[top, j] g_j W1[j].
        h = cls[0](feats.mean(dim=(2, 3)))
        g = torch.clamp(h + 3, 0, 6) / 6
        w = (cls[3].weight[top] * g) @ cls[0].weight
    else:
        w = cls[1].weight[top]
    out["cam"] = torch.einsum("nc,nchw->nhw", w, feats)[:, None].detach()
    return out


def maps(model, logits):
    """The C model's maps after model(x) gave `logits` (N x classes)."""
    if hasattr(model, "trunk_output"):
        return _regnet_maps(model, logits)
    if not hasattr(model, "layer1"):
        return _mbconv_maps(model, logits)
    out = {}
    layers = getattr(model, "visattn_layers", None) or \
        (model.layer1, model.layer2, model.layer3, model.layer4)
    bams = getattr(model, "visattn_bams", None)
    for i, layer in enumerate(layers, 1):
        if bams:  # attention-module's BAM: the modules between the stages only
            if i <= len(bams):
                for k, v in visattn_ref.load("bam").maps(getattr(model, bams[i - 1])).items():
                    out[f"bam{i}.{k}"] = v.detach()
            continue
        if model.visattn_attention is None:
            out[f"layer{i}.energy"] = layer.visattn_energy
            continue
        ref = visattn_ref.load(model.visattn_attention)
        for j, blk in enumerate(layer):
            att = blk.visattn_module[0] if hasattr(blk, "visattn_module") else \
                getattr(blk, blk.visattn_slot)
            for k, v in ref.maps(att).items():
                out[f"layer{i}.{j}.{k}"] = v.detach()
    top = logits.argmax(dim=1)
    fc = getattr(model, getattr(model, "fc_key", "fc"))
    out["cam"] = torch.einsum("nc,nchw->nhw", fc.weight[top],
                              model.visattn_features)[:, None].detach()
    return out


class CheckpointError(Exception):
    pass


def read_state_dict(path):
    """The state_dict in a checkpoint file, and a phrase saying in which form it was found: a
    state_dict itself, or one under 'state_dict', 'model' or 'net' (EMO's trainer); keys possibly
    prefixed 'module.' (DataParallel); thop's 'total_ops' / 'total_params' buffers dropped."""
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # truncated, not a checkpoint, ...: torch's reason, one line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a checkpoint torch.load can read ({reason})") from None
    form = "a state_dict"
    if isinstance(obj, dict) and not _is_state_dict(obj):
        for k in ("state_dict", "model", "net"):
            if isinstance(obj.get(k), dict) and _is_state_dict(obj[k]):
                obj, form = obj[k], f"a state_dict under '{k}'"
                break
    if not isinstance(obj, dict) or not _is_state_dict(obj) or not obj:
        what = type(obj).__name__
        if isinstance(obj, dict):
            what = "a dict with keys " + ", ".join(repr(k) for k in list(obj)[:5])
        raise CheckpointError(f"{path}: holds {what}, not a state_dict (nor one under "
                              "'state_dict', 'model' or 'net')")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
        form += ", keys prefixed 'module.'"
    thop = [k for k in obj if k.split(".")[-1] in ("total_ops", "total_params")]
    if thop:
        obj = {k: v for k, v in obj.items() if k not in thop}
        form += f", {len(thop)} thop buffers dropped"
    return obj, form


def _is_state_dict(d):
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def load_checkpoint(model, path, label):
    """Load a checkpoint file into model strictly; CheckpointError (one line naming the file and
    the first missing, unexpected or wrong-shaped key) if it is not one of `label`. Returns the
    form found (read_state_dict). BatchNorm's num_batches_tracked may be absent (older torchvision
    checkpoints), as nn.BatchNorm2d itself allows."""
    sd, form = read_state_dict(path)
    want = model.state_dict()
    for k, v in want.items():
        if k not in sd:
            if k.endswith("num_batches_tracked"):
                sd[k] = v.clone()
                continue
            raise CheckpointError(f"{path}: not a checkpoint of {label}: key '{k}' is missing")
        if tuple(sd[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{path}: not a checkpoint of {label}: key '{k}' has shape "
                                  f"{tuple(sd[k].shape)}, {label} has {tuple(v.shape)}")
    for k in sd:
        if k not in want:
            raise CheckpointError(f"{path}: not a checkpoint of {label}: unexpected key '{k}'")
    model.load_state_dict(sd)
    return form
