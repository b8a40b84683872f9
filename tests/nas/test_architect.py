"""The architect: the second-order gradient against a numerical one, the step's bookkeeping (pure torch, no Ray)."""

import functools

import pytest
import torch

from trw_ray.nas.architect import ArchitectStep, unrolled_architecture_gradient
from trw_ray.nas.supernet import Supernet


def toy_supernet():
    torch.manual_seed(0)
    net = Supernet("nb201", num_classes=3, in_channels=1, width=2, depth=1, arch_init_scale=0.5).double()
    net.train()
    return net


def batches():
    generator = torch.Generator().manual_seed(1)
    make = lambda: {"images": torch.rand(6, 1, 6, 6, generator=generator, dtype=torch.float64),  # noqa: E731
                    "targets": torch.randint(0, 3, (6,), generator=generator)}
    return make(), make()


def loss_of(net):
    def loss(batch):
        output = net(batch)["softmax"]
        return output.evaluate(batch, "softmax").loss
    return loss


def test_second_order_gradient_matches_a_numerical_one():
    net = toy_supernet()
    train, arch = batches()
    weights, alphas = net.weight_parameters(), net.arch_parameters()
    xi, weight_decay = 0.5, 0.01
    loss = loss_of(net)
    before = [w.detach().clone() for w in weights]
    # epsilon: the finite difference's radius (DARTS' 0.01 is tiny per weight of a real network, not on this toy)
    analytic, _ = unrolled_architecture_gradient(loss, weights, alphas, train, arch, xi, weight_decay, epsilon=1e-5)
    assert all(torch.equal(w, b) for w, b in zip(weights, before, strict=True))  # the weights are restored

    def unrolled_loss():
        grads = torch.autograd.grad(loss(train), weights, allow_unused=True)
        with torch.no_grad():
            for w, g in zip(weights, grads, strict=True):
                w.sub_(xi * ((0 if g is None else g) + weight_decay * w))
        value = float(loss(arch).detach())
        with torch.no_grad():
            for w, b in zip(weights, before, strict=True):
                w.copy_(b)
        return value

    alpha = alphas[0]
    numerical = torch.zeros_like(alpha)
    step = 1e-5
    for index in range(alpha.numel()):
        flat = alpha.data.view(-1)
        original = flat[index].item()
        flat[index] = original + step
        plus = unrolled_loss()
        flat[index] = original - step
        minus = unrolled_loss()
        flat[index] = original
        numerical.view(-1)[index] = (plus - minus) / (2 * step)
    first_order = torch.autograd.grad(loss(arch), [alpha])[0]
    error = (analytic[0] - numerical).norm() / numerical.norm()
    assert error < 1e-3, f"relative error {error:.2e}"
    # the second-order term matters here: the first-order gradient is measurably further from the truth
    assert (first_order - numerical).norm() / numerical.norm() > 10 * error


def test_architect_step_needs_a_supernet_and_weight_only_optimizer():
    from trw_ray.train.callbacks.base import TrainerContext

    with pytest.raises(ValueError, match="order"):
        ArchitectStep(order="third")
    with pytest.raises(ValueError, match="arch_betas"):
        ArchitectStep(arch_betas=(0.5, 1.5))
    net = toy_supernet()
    context = TrainerContext(options={"training_parameters": {"num_epochs": 1}}, run_dir=None, logger=None)
    context.model = net
    context.datasets = {"toy": {"train": [], "arch": []}}
    context.optimizers = {"toy": torch.optim.SGD(net.parameters(), lr=0.1)}
    with pytest.raises(ValueError, match="weight_parameters"):
        ArchitectStep().setup(context)
    context.optimizers = {"toy": torch.optim.SGD(net.weight_parameters(), lr=0.1)}
    context.datasets = {"toy": {"train": []}}
    with pytest.raises(ValueError, match="no split 'arch'"):
        ArchitectStep().setup(context)
    context.datasets = {"toy": {"train": [], "arch": []}}
    step = ArchitectStep(aux_skip=1.0)
    step.setup(context)
    assert step.aux_skip_weight(0, 5) == 1.0 and step.aux_skip_weight(2, 5) == 0.5 and step.aux_skip_weight(4, 5) == 0.0
    assert functools.partial(ArchitectStep)().aux_skip_weight(0, 5) == 0.0  # DARTS- is off by default
