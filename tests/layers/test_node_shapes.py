"""Every node's inferred shape equals the real output shape of the torch layer it builds (seeded sweep)."""

import numpy as np
import pytest
import torch

from trw_ray import layers as sl

SWEEP = 40


def run(node):
    """Builds the chain from the Input up to ``node`` and returns the real output shape for a batch of 2."""
    chain = []
    current = node
    while current.parents:
        chain.append(current)
        current = current.parents[0]
    x = torch.randn(2, *current.shape[1:])
    for step in reversed(chain):
        module = step.create_module()
        x = step.forward(module, [x], {})
    return list(x.shape)


def check(node):
    assert run(node) == [2, *node.shape[1:]], node


def spatial_input(rng, dims, low=1, high=12):
    return sl.Input([None, int(rng.integers(1, 5)), *rng.integers(low, high, size=dims).tolist()], "x")


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_convolutions(dims):
    rng = np.random.default_rng(dims)
    checked = 0
    node_class = {1: sl.Conv1d, 2: sl.Conv2d, 3: sl.Conv3d}[dims]
    for _ in range(SWEEP):
        source = spatial_input(rng, dims, 3, 14)
        kwargs = {"kernel_size": int(rng.integers(1, 6)), "stride": int(rng.integers(1, 4)),
                  "dilation": int(rng.integers(1, 3))}
        padding = rng.choice(["default", "valid", "int", "same"])
        if padding == "valid":
            kwargs["padding"] = "valid"
        elif padding == "int":
            kwargs["padding"] = int(rng.integers(0, 3))
        elif padding == "same":
            kwargs.update(padding="same", stride=1)
        try:
            node = node_class(source, out_channels=int(rng.integers(1, 6)), **kwargs)
        except ValueError:
            with pytest.raises(RuntimeError):  # torch refuses it too
                module = torch.nn.Module()
                conv = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims]
                pad = 0 if kwargs.get("padding") in (None, "valid") else kwargs["padding"]
                module = conv(source.shape[1], 1, kwargs["kernel_size"], kwargs["stride"], pad, kwargs["dilation"])
                module(torch.randn(1, *source.shape[1:]))
            continue
        check(node)
        checked += 1
    assert checked >= SWEEP // 2


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_transposed_convolutions(dims):
    rng = np.random.default_rng(10 + dims)
    node_class = {1: sl.ConvTranspose1d, 2: sl.ConvTranspose2d, 3: sl.ConvTranspose3d}[dims]
    for _ in range(SWEEP):
        stride = int(rng.integers(1, 4))
        node = node_class(spatial_input(rng, dims), out_channels=int(rng.integers(1, 5)),
                          kernel_size=int(rng.integers(1, 5)), stride=stride, padding=0,
                          output_padding=int(rng.integers(0, stride)))
        check(node)


@pytest.mark.parametrize("node_class, dims", [(sl.MaxPool1d, 1), (sl.MaxPool2d, 2), (sl.MaxPool3d, 3),
                                              (sl.AvgPool1d, 1), (sl.AvgPool2d, 2), (sl.AvgPool3d, 3)])
def test_pooling(node_class, dims):
    rng = np.random.default_rng(20 + dims)
    checked = 0
    for _ in range(SWEEP):
        kernel = int(rng.integers(1, 5))
        try:
            node = node_class(spatial_input(rng, dims, 2, 13), kernel_size=kernel,
                              stride=int(rng.integers(1, 4)) if rng.random() < 0.7 else None,
                              padding=int(rng.integers(0, kernel // 2 + 1)), ceil_mode=bool(rng.random() < 0.5))
        except ValueError as error:
            assert "larger than the input" in str(error)
            continue
        check(node)
        checked += 1
    assert checked >= SWEEP // 2


def test_linear_flatten_reshape_activations_norms():
    rng = np.random.default_rng(30)
    for _ in range(SWEEP):
        source = spatial_input(rng, 2, 2, 8)
        flat = sl.Flatten(source)
        check(flat)
        check(sl.Linear(flat, int(rng.integers(1, 20))))
        check(sl.Reshape(source, [-1, source.shape[2] * source.shape[3]]))
        for activation in (sl.ReLU, sl.LeakyReLU, sl.ELU, sl.GELU, sl.SiLU, sl.Sigmoid, sl.Tanh, sl.Softmax):
            check(activation(source))
        check(sl.Dropout(source, 0.3))
        check(sl.BatchNorm2d(source))
        check(sl.GroupNorm(source, 1))
    check(sl.BatchNorm1d(sl.Input([None, 5], "x")))
    check(sl.BatchNorm1d(sl.Input([None, 5, 7], "x")))
    check(sl.BatchNorm3d(sl.Input([None, 2, 3, 4, 5], "x")))


def test_concat_and_add_shapes():
    a, b = sl.Input([None, 3, 8, 8], "a"), sl.Input([None, 5, 8, 8], "b")
    concat = sl.ConcatChannels([a, b])
    assert concat.shape == [None, 8, 8, 8]
    assert list(concat.forward(None, [torch.randn(2, 3, 8, 8), torch.randn(2, 5, 8, 8)], {}).shape) == [2, 8, 8, 8]
    assert sl.Add([a, sl.Conv2d(b, 3, 3)]).shape == [None, 3, 8, 8]


@pytest.mark.parametrize("declare, message", [
    (lambda: sl.Linear(sl.Input([None, 3, 8, 8], "x"), 4), r"Linear \(declared at test_node_shapes.py:\d+\): input shape \[None, 3, 8, 8\] does not fit.*Flatten"),
    (lambda: sl.Conv2d(sl.Input([None, 3, 4, 4], "x"), 4, kernel_size=7, padding=0), r"kernel \[7, 7\].*larger than the padded input \[None, 3, 4, 4\]"),
    (lambda: sl.MaxPool2d(sl.Input([None, 3, 3, 3], "x"), 4), r"kernel \[4, 4\] is larger than the input \[None, 3, 3, 3\]"),
    (lambda: sl.ConcatChannels([sl.Input([None, 3, 8, 8], "a"), sl.Input([None, 3, 7, 8], "b")]), r"same sizes except channels; got \[\[None, 3, 8, 8\], \[None, 3, 7, 8\]\]"),
    (lambda: sl.Add([sl.Input([None, 3], "a"), sl.Input([None, 4], "b")]), "same shape"),
    (lambda: sl.Conv2d(sl.Input([None, 3, 8], "x"), 4, 3), r"needs a 4-D input"),
    (lambda: sl.Reshape(sl.Input([None, 3, 4], "x"), [5, -1]), "cannot reshape"),
    (lambda: sl.GroupNorm(sl.Input([None, 6, 4, 4], "x"), 4), "num_groups must divide the 6 channels"),
    (lambda: sl.Input([1, 28, 28], "x"), r"shape must be \[None, d1, ...\]"),
    (lambda: sl.OutputClassification(sl.Input([None, 3, 4, 4], "x"), "o", "t"), r"needs logits \[None, classes\]"),
    (lambda: sl.Conv2d(sl.Input([None, 3, 8, 8], "x"), 0, 3), "out_channels must be an integer >= 1"),
])
def test_impossible_shapes_are_refused_at_declaration(declare, message):
    with pytest.raises(ValueError, match=message):
        declare()
