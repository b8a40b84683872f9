"""Simple layers (``trw.simple_layers``): declare a network by chaining nodes; shapes are inferred.

Example (TRW documentation, section 1.4.2)::

    n = Input([None, 1, 28, 28], 'images')
    n = Conv2d(n, out_channels=16, kernel_size=5)
    n = ReLU(n)
    n = MaxPool2d(n, 2)
    n = Flatten(n)
    n = Linear(n, 10)
    n = OutputClassification(n, output_name='softmax', classes_name='targets')
    compiled_nn = compile_nn(output_nodes=[n])
    outputs = compiled_nn(batch)
"""

from trw_ray.layers.activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, SiLU, Softmax, Tanh
from trw_ray.layers.compiled import CompiledNet, compile_nn, load, load_description
from trw_ray.layers.convolutions import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from trw_ray.layers.inputs import Input
from trw_ray.layers.linear import Linear
from trw_ray.layers.node import Node
from trw_ray.layers.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm
from trw_ray.layers.outputs import OutputClassification, OutputEmbedding, OutputRegression
from trw_ray.layers.pooling import AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d
from trw_ray.layers.shape_ops import Add, ConcatChannels, Dropout, Flatten, Reshape

__all__ = [
    "ELU", "GELU", "Add", "AvgPool1d", "AvgPool2d", "AvgPool3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
    "CompiledNet", "ConcatChannels", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "Dropout", "Flatten", "GroupNorm", "Input", "LeakyReLU", "Linear", "MaxPool1d", "MaxPool2d",
    "MaxPool3d", "Node", "OutputClassification", "OutputEmbedding", "OutputRegression", "ReLU", "Reshape",
    "SiLU", "Sigmoid", "Softmax", "Tanh", "compile_nn", "load", "load_description",
]
