"""Squeeze-and-Excitation, as torchvision.ops.misc.SqueezeExcitation (torchvision 0.14).

scale = scale_activation(fc2(activation(fc1(avgpool(x))))), y = scale * x, with fc1/fc2 1x1 convs
with bias. torchvision takes the activations as nn.Module classes; the config names them by string
("relu", "silu", ...; "sigmoid", "hardsigmoid", ...), case-insensitively.
"""
import torch
from torch import nn

NAME = "se"

# The activation names the C library accepts (va_act_from_name), as the nn.Module torchvision
# would be given.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "hardsigmoid": nn.Hardsigmoid,
    "hardswish": nn.Hardswish,
    "tanh": nn.Tanh,
    "mish": nn.Mish,
    "identity": nn.Identity,
    "none": nn.Identity,
}


def activation_class(name):
    if not isinstance(name, str):
        return name  # already an nn.Module class, as torchvision takes it
    try:
        return ACTIVATIONS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown activation '{name}'") from None


class SqueezeExcitation(nn.Module):
    def __init__(self, input_channels, squeeze_channels, activation="relu",
                 scale_activation="sigmoid"):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation_class(activation)()
        self.scale_activation = activation_class(scale_activation)()
        self.last_scale = None

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        self.last_scale = s.detach()
        return s * x


def build(config):
    return SqueezeExcitation(**config)


def maps(module):
    return {"channel": module.last_scale}


PARITY_CASES = [
    ({"input_channels": 16, "squeeze_channels": 4}, (2, 16, 7, 5)),
    ({"input_channels": 64, "squeeze_channels": 16}, (1, 64, 56, 56)),
    ({"input_channels": 24, "squeeze_channels": 8, "activation": "silu",
      "scale_activation": "hardsigmoid"}, (2, 24, 9, 13)),
    ({"input_channels": 12, "squeeze_channels": 5, "activation": "gelu"}, (2, 12, 3, 2)),
    ({"input_channels": 8, "squeeze_channels": 8, "activation": "hardswish"}, (2, 8, 1, 1)),
    ({"input_channels": 7, "squeeze_channels": 1, "activation": "ReLU6",
      "scale_activation": "Sigmoid"}, (3, 7, 1, 6)),
    ({"input_channels": 32, "squeeze_channels": 40, "activation": "none"}, (1, 32, 11, 4)),
    # torch.nn class names torchvision is given, the newer ones included.
    ({"input_channels": 12, "squeeze_channels": 4, "activation": "Tanh",
      "scale_activation": "Hardsigmoid"}, (2, 12, 5, 7)),
    ({"input_channels": 12, "squeeze_channels": 6, "activation": "Mish",
      "scale_activation": "Tanh"}, (2, 12, 3, 5)),
    ({"input_channels": 10, "squeeze_channels": 3, "activation": "Identity",
      "scale_activation": "mish"}, (1, 10, 4, 9)),
]

BAD_CONFIGS = [
    ({"squeeze_channels": 4}, "input_channels"),
    ({"input_channels": 16}, "squeeze_channels"),
    ({"input_channels": 16, "squeeze_channels": 0}, "squeeze_channels"),
    ({"input_channels": -2, "squeeze_channels": 4}, "input_channels"),
    ({"input_channels": 16, "squeeze_channels": 4, "activation": "tanhh"}, "activation"),
    ({"input_channels": 16, "squeeze_channels": 4, "activation": "LeakyReLU"}, "not implement"),
    ({"input_channels": 16, "squeeze_channels": 4, "scale_activation": 3}, "scale_activation"),
    ({"input_channels": 16, "squeeze_channels": 4, "reduction": 4}, "reduction"),
]
