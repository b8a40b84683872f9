"""DARTS' architect as a training step: an architecture update on a batch of another split before every weight step.

Bilevel optimisation (Liu et al., 2019): the weights ``w`` minimise the loss on the ``train`` split, the
architecture parameters ``a`` the loss on a held-out split (by default ``arch``, the half of the training samples
that :func:`~trw_ray.nas.bilevel.bilevel_split` sets apart).

- ``order='first'``: ``grad_a L_arch(w, a)``.
- ``order='second'``: the gradient through one virtual weight step ``w' = w - xi * (m + grad_w L_train(w, a) + wd*w)``
  (``m``: the optimizer's momentum buffer times its momentum, ``xi``: its learning rate):
  ``grad_a L_arch(w', a) - xi * H v`` with ``v = grad_w' L_arch(w', a)`` and the Hessian-vector product
  ``H v = (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / 2r``, ``w+- = w +- r v``, ``r = 0.01 / |v|``.
  :func:`unrolled_architecture_gradient` computes it; a test compares it with a numerical gradient.

The architecture optimizer is Adam (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3, the paper's); its state is part
of the step's ``state_dict`` (a search trial's checkpoint). DARTS- (Chu et al., 2021) is an option (``aux_skip``):
every stride-1 mixed edge gets an auxiliary skip connection whose weight decays linearly from ``aux_skip`` to 0 over
the epochs, so skip no longer has to win the architecture weights to carry the gradient (off by default: see
:mod:`trw_ray.nas.guard` for what it did on NB-201 / Fashion-MNIST).

Use it as the Trainer's step (``functools.partial`` sets the options)::

    Trainer(step_fn=functools.partial(ArchitectStep, order='second')).fit(
        options, inputs_fn, model_fn=lambda o: Supernet('nb201', width=8), optimizers_fn=darts_optimizers_fn)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from trw_ray import checks
from trw_ray.nas.bilevel import ARCH_SPLIT, ORDERS
from trw_ray.train.step import BatchResult, StepContext, TrainingStep

__all__ = ["ARCH_SPLIT", "ArchitectStep", "unrolled_architecture_gradient"]


def _grads(loss: torch.Tensor, parameters: Sequence[torch.Tensor], retain_graph: bool = False) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(parameters), allow_unused=True, retain_graph=retain_graph)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, parameters, strict=True)]


def unrolled_architecture_gradient(loss_fn: Callable[[Any], torch.Tensor], weights: Sequence[torch.Tensor],
                                   alphas: Sequence[torch.Tensor], train_batch: Any, arch_batch: Any,
                                   learning_rate: float, weight_decay: float = 0.0, momentum: float = 0.0,
                                   momentum_buffers: Sequence[torch.Tensor | None] | None = None,
                                   epsilon: float = 0.01) -> tuple[list[torch.Tensor], torch.Tensor]:
    """DARTS' second-order architecture gradient (see the module doc); returns ``(gradients, arch_loss)``.

    ``loss_fn(batch)`` is the loss at the parameters' current values; the weights are changed in place during the
    computation and restored before it returns.
    """
    weights, alphas = list(weights), list(alphas)
    buffers = list(momentum_buffers) if momentum_buffers is not None else [None] * len(weights)
    originals = [weight.detach().clone() for weight in weights]
    train_grads = _grads(loss_fn(train_batch), weights)
    try:
        with torch.no_grad():  # the virtual step w' = w - xi * (m + dw + wd * w)
            for weight, grad, buffer in zip(weights, train_grads, buffers, strict=True):
                direction = grad + weight_decay * weight
                if momentum and buffer is not None:
                    direction = direction + momentum * buffer
                weight.sub_(learning_rate * direction)
        arch_loss = loss_fn(arch_batch)
        grads = _grads(arch_loss, [*alphas, *weights])
        alpha_grads, vector = grads[:len(alphas)], grads[len(alphas):]
        norm = math.sqrt(sum(float((v.double() ** 2).sum()) for v in vector))
        if norm == 0.0:
            return alpha_grads, arch_loss.detach()
        radius = epsilon / norm
        products = []
        for sign in (1.0, -1.0):  # grad_a L_train at w + r v, then at w - r v
            with torch.no_grad():
                for weight, original, v in zip(weights, originals, vector, strict=True):
                    weight.copy_(original + sign * radius * v)
            products.append(_grads(loss_fn(train_batch), alphas))
        hessian_vector = [(plus - minus) / (2 * radius) for plus, minus in zip(*products, strict=True)]
        gradients = [grad - learning_rate * product for grad, product in zip(alpha_grads, hessian_vector, strict=True)]
        return gradients, arch_loss.detach()
    finally:
        with torch.no_grad():
            for weight, original in zip(weights, originals, strict=True):
                weight.copy_(original)


@contextlib.contextmanager
def _frozen(parameters: Sequence[torch.Tensor]) -> Iterator[None]:
    """The weight step computes no gradient for the architecture parameters."""
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in parameters:
            parameter.requires_grad_(True)


class ArchitectStep(TrainingStep):
    """Architecture update on a batch of ``arch_split``, then the usual weight step on the training batch.

    Args:
        order: ``'first'`` or ``'second'`` (see the module doc).
        arch_split: the split whose loss the architecture minimises (default ``arch``).
        arch_learning_rate, arch_betas, arch_weight_decay: Adam of the architecture parameters.
        unrolled_learning_rate: ``xi`` of the second order (default: the weight optimizer's learning rate).
        aux_skip: DARTS-' auxiliary skip weight at the first epoch, decayed linearly to 0 at the last (0: off, the
            default).
        warmup_epochs: epochs that train the weights only (the architecture starts afterwards).
        epsilon: the second order's finite-difference radius is ``epsilon / |v|`` (DARTS' 0.01).

    Metrics added to each epoch's history (``<dataset>/train/step/<name>``): ``arch_loss``, ``arch_entropy``
    (mean entropy of the op weights per edge, ``log(ops)`` when undecided) and ``aux_skip``.
    """

    def __init__(self, order: str = "first", arch_split: str = ARCH_SPLIT, arch_learning_rate: float = 3e-4,
                 arch_betas: tuple[float, float] = (0.5, 0.999), arch_weight_decay: float = 1e-3,
                 unrolled_learning_rate: float | None = None, aux_skip: float = 0.0, warmup_epochs: int = 0,
                 epsilon: float = 0.01):
        if order not in ORDERS:
            raise ValueError(f"order: expected one of {list(ORDERS)}; got {order!r}")
        if not isinstance(arch_split, str) or not arch_split:
            raise ValueError(f"arch_split: expected a split name; got {arch_split!r}")
        checks.number(arch_learning_rate, "arch_learning_rate", minimum=0.0)
        checks.number(arch_weight_decay, "arch_weight_decay", minimum=0.0)
        checks.number(aux_skip, "aux_skip", minimum=0.0)
        if unrolled_learning_rate is not None:
            checks.number(unrolled_learning_rate, "unrolled_learning_rate", minimum=0.0)
        checks.positive_int(warmup_epochs, "warmup_epochs", 0)
        if not (checks.is_finite_number(epsilon) and epsilon > 0):
            raise ValueError(f"epsilon: expected a number > 0; got {epsilon!r}")
        self.epsilon = float(epsilon)
        if not isinstance(arch_betas, (tuple, list)) or len(arch_betas) != 2 or \
                not all(checks.is_finite_number(b) and 0 <= b < 1 for b in arch_betas):
            raise ValueError(f"arch_betas: expected two numbers in [0, 1); got {arch_betas!r}")
        self.order, self.arch_split = order, arch_split
        self.arch_learning_rate, self.arch_betas = arch_learning_rate, tuple(arch_betas)
        self.arch_weight_decay, self.unrolled_learning_rate = arch_weight_decay, unrolled_learning_rate
        self.aux_skip, self.warmup_epochs = float(aux_skip), warmup_epochs
        self.optimizer: torch.optim.Optimizer | None = None

    def setup(self, context) -> None:
        model = context.model
        if not callable(getattr(model, "arch_parameters", None)):
            raise TypeError(f"ArchitectStep: the model must have arch_parameters() (a trw_ray.nas.Supernet); got "
                            f"{type(model).__name__}")
        self.alphas = list(model.arch_parameters())
        arch = {id(parameter) for parameter in self.alphas}
        for name, optimizer in context.optimizers.items():
            if any(id(p) in arch for group in optimizer.param_groups for p in group["params"]):
                raise ValueError(f"optimizers_fn: the optimizer of dataset {name!r} also trains the architecture "
                                 "parameters; give it model.weight_parameters() (trw_ray.nas.darts_optimizers_fn does)")
        for dataset, splits in context.datasets.items():
            if self.arch_split not in splits:
                raise ValueError(f"arch_split: dataset {dataset!r} has no split {self.arch_split!r} (its splits: "
                                 f"{sorted(splits)}); halve the training split with trw_ray.nas.bilevel_split or name "
                                 "a split")
        if context.options["training_parameters"].get("mixed_precision") == "fp16":
            raise ValueError("mixed_precision: the architect computes unscaled gradients; use 'bf16' or none with "
                             "ArchitectStep, not 'fp16'")
        self.optimizer = torch.optim.Adam(self.alphas, lr=self.arch_learning_rate, betas=self.arch_betas,
                                          weight_decay=self.arch_weight_decay)

    def aux_skip_weight(self, epoch: int, num_epochs: int) -> float:
        if not self.aux_skip:
            return 0.0
        return self.aux_skip * max(0.0, 1.0 - epoch / max(1, num_epochs - 1))

    def __call__(self, ctx: StepContext, batch: dict[str, Any]) -> BatchResult:
        model = ctx.model
        if ctx.batch_index == 0 and hasattr(model, "set_aux_skip"):
            self._aux = self.aux_skip_weight(ctx.epoch, ctx.trainer.num_epochs)
            model.set_aux_skip(self._aux)
        if ctx.epoch >= self.warmup_epochs:
            arch_batch = ctx.draw_batch(self.arch_split)
            if self.order == "first":
                arch_loss = self._loss(ctx, arch_batch)
                grads = _grads(arch_loss, self.alphas)
                arch_loss = arch_loss.detach()
            else:
                grads, arch_loss = self._second_order(ctx, batch, arch_batch)
            for alpha, grad in zip(self.alphas, grads, strict=True):
                alpha.grad = grad
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            ctx.add_metric("arch_loss", arch_loss)
        with _frozen(self.alphas):
            return super().__call__(ctx, batch)

    @staticmethod
    def _loss(ctx: StepContext, batch: Mapping[str, Any]) -> torch.Tensor:
        loss = ctx.forward(batch).loss
        if loss is None:
            raise ValueError(f"{ctx.where}: the supernet returned no output with a loss")
        return loss

    def _second_order(self, ctx: StepContext, batch, arch_batch):
        optimizer = ctx.optimizer
        group = optimizer.param_groups[0]
        weights = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
        momentum = float(group.get("momentum", 0.0) or 0.0)
        buffers = [optimizer.state.get(p, {}).get("momentum_buffer") for p in weights]
        learning_rate = self.unrolled_learning_rate if self.unrolled_learning_rate is not None else float(group["lr"])
        return unrolled_architecture_gradient(
            lambda b: self._loss(ctx, b), weights, self.alphas, batch, arch_batch, learning_rate,
            float(group.get("weight_decay", 0.0) or 0.0), momentum, buffers, self.epsilon)

    def end_split(self, ctx: StepContext) -> None:
        super().end_split(ctx)
        entropy = getattr(ctx.model, "entropy", None)
        if callable(entropy):
            values = list(entropy().values())
            ctx.add_metric("arch_entropy", sum(values) / len(values))
        ctx.add_metric("aux_skip", getattr(self, "_aux", 0.0))

    def state_dict(self) -> dict[str, Any]:
        return {"arch_optimizer": self.optimizer.state_dict() if self.optimizer is not None else {}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.optimizer is not None and state.get("arch_optimizer"):
            self.optimizer.load_state_dict(state["arch_optimizer"])
