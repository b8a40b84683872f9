"""The op registry: every op keeps the shapes the cells need, odd sizes included (torch only, no Ray)."""

import pytest
import torch

from trw_ray.nas import ops
from trw_ray.nas.genotypes import DARTS, NB201


@pytest.mark.parametrize("name", sorted(set(NB201.ops) | set(DARTS.ops)))
@pytest.mark.parametrize("size", [28, 7])
def test_every_op_keeps_or_halves_the_resolution(name, size):
    x = torch.randn(2, 4, size, size)
    for stride in (1, 2):
        for c_out in (4, 8):
            if name == "skip_connect" and stride == 2 and c_out % 2:
                continue
            out = ops.create_op(name, 4, c_out, stride, affine=False)(x)
            expected = -(-size // stride)
            assert out.shape == (2, c_out, expected, expected), (name, stride, c_out)
    parameters = sum(p.numel() for p in ops.create_op(name, 4, 4, 1).parameters())
    assert (parameters == 0) == (name in ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"))
    assert ops.is_parameter_free(name) == (name in ("skip_connect", "avg_pool_3x3", "max_pool_3x3"))


def test_registry_errors_and_registration():
    with pytest.raises(ValueError, match="unknown op 'conv_9x9'; registered: \\['none', "):
        ops.create_op("conv_9x9", 4, 4)
    with pytest.raises(ValueError, match="already registered"):
        ops.register_op("skip_connect", lambda *a: None)
    with pytest.raises(ValueError, match="stride"):
        ops.create_op("none", 4, 4, stride=3)
    entry = ops.register_op("test_identity_op", lambda c_in, c_out, stride, affine: torch.nn.Identity(),
                            parameter_free=True)
    try:
        assert "test_identity_op" in ops.op_names() and entry.parameter_free
    finally:
        ops._OPS.pop("test_identity_op")
