"""Element-wise activations: the output shape is the input shape."""

from __future__ import annotations

import torch

from trw_ray.layers.node import Node


class _Activation(Node):
    module_class: type[torch.nn.Module]

    def __init__(self, node: Node, **args):
        super().__init__([node], args)
        self.shape = list(node.shape)

    def create_module(self):
        return self.module_class(**self.args)


class ReLU(_Activation):
    module_class = torch.nn.ReLU

    def __init__(self, node: Node):
        super().__init__(node)


class LeakyReLU(_Activation):
    module_class = torch.nn.LeakyReLU

    def __init__(self, node: Node, negative_slope: float = 0.01):
        super().__init__(node, negative_slope=negative_slope)


class ELU(_Activation):
    module_class = torch.nn.ELU

    def __init__(self, node: Node, alpha: float = 1.0):
        super().__init__(node, alpha=alpha)


class GELU(_Activation):
    module_class = torch.nn.GELU

    def __init__(self, node: Node):
        super().__init__(node)


class SiLU(_Activation):
    module_class = torch.nn.SiLU

    def __init__(self, node: Node):
        super().__init__(node)


class Sigmoid(_Activation):
    module_class = torch.nn.Sigmoid

    def __init__(self, node: Node):
        super().__init__(node)


class Tanh(_Activation):
    module_class = torch.nn.Tanh

    def __init__(self, node: Node):
        super().__init__(node)


class Softmax(_Activation):
    module_class = torch.nn.Softmax

    def __init__(self, node: Node, dim: int = 1):
        super().__init__(node, dim=dim)
