"""Model debugging: ``activations/`` and ``gradients/``.

At the end of every epoch the model runs once, in eval mode, on a fixed batch of training samples: the
statistics of every leaf layer's output (mean, std, fraction of dead units = exact zeros) and the L2 norm of
every parameter's gradient of the summed loss are appended to CSV files; their PNGs over epochs are written
at the last epoch. Layers whose gradient norm vanishes or explodes are flagged in ``trainer.txt``. Training
itself is not touched (no hooks stay attached, gradients are cleared after the pass).
"""

from __future__ import annotations

from typing import Any

import torch

from trw_ray import layout
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext

pd = lazy_module("pandas")
plots = lazy_module("trw_ray.reports.plots")


def debug_batch(context: TrainerContext) -> dict[str, Any] | None:
    """A fixed batch of training samples (else the example batch) on the model's device."""
    device = context.options["workflow_options"]["device"]
    for splits in context.split_samples.values():
        if "train" in splits:
            return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in splits["train"].items()}
    return context.example_batch


def total_loss(outputs: dict, batch: dict) -> torch.Tensor | None:
    loss = None
    for name, output in outputs.items():
        evaluation = output.evaluate(batch, name)
        if evaluation.loss is not None:
            loss = evaluation.loss if loss is None else loss + evaluation.loss
    return loss


def activation_and_gradient_statistics(model: torch.nn.Module, batch: dict) -> tuple[list[dict], list[dict], dict]:
    """``(activation rows, gradient rows, {parameter: gradient})`` of one eval-mode pass over ``batch``."""
    activations: list[dict] = []
    hooks = []
    for name, module in model.named_modules():
        if list(module.children()) or not name:
            continue

        def record(module, inputs, output, name=name):
            value = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
                value = value.detach().float()
                activations.append({"layer": name, "type": type(module).__name__, "mean": value.mean().item(),
                                    "std": value.std().item() if value.numel() > 1 else 0.0,
                                    "dead_fraction": (value == 0).float().mean().item()})
        hooks.append(module.register_forward_hook(record))
    was_training = model.training
    saved_grads = {name: p.grad for name, p in model.named_parameters()}
    gradients: dict[str, torch.Tensor] = {}
    try:
        model.eval()
        for parameter in model.parameters():
            parameter.grad = None
        with torch.enable_grad():
            loss = total_loss(model(batch), batch)
        for hook in hooks:
            hook.remove()
        hooks = []
        if loss is not None:
            loss.backward()
            gradients = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    finally:
        for hook in hooks:
            hook.remove()
        for name, parameter in model.named_parameters():
            parameter.grad = saved_grads[name]
        model.train(was_training)
    gradient_rows = [{"parameter": name, "gradient_norm": grad.float().norm().item()} for name, grad in gradients.items()]
    return activations, gradient_rows, gradients


class CallbackModelDebugging(Callback):
    """Activation and gradient statistics per layer and epoch.

    Args:
        vanishing: a gradient norm below this is flagged as vanishing.
        exploding: a gradient norm above this is flagged as exploding.
    """

    def __init__(self, vanishing: float = 1e-7, exploding: float = 1e3, strict: bool = False):
        super().__init__(strict=strict)
        self.vanishing, self.exploding = vanishing, exploding
        self.activation_rows: list[dict] = []
        self.gradient_rows: list[dict] = []

    def __call__(self, context: TrainerContext) -> None:
        batch = debug_batch(context)
        if batch is None:
            return
        activations, gradient_rows, gradients = activation_and_gradient_statistics(context.model, batch)
        context.extra["debug_gradients"] = gradients
        self.activation_rows += [{"epoch": context.epoch, **row} for row in activations]
        self.gradient_rows += [{"epoch": context.epoch, **row} for row in gradient_rows]
        for row in gradient_rows:
            if row["gradient_norm"] < self.vanishing:
                context.logger.warning("epoch %d: gradient of %s is vanishing (L2 norm %.3g < %.3g)",
                                       context.epoch, row["parameter"], row["gradient_norm"], self.vanishing)
            elif row["gradient_norm"] > self.exploding:
                context.logger.warning("epoch %d: gradient of %s is exploding (L2 norm %.3g > %.3g)",
                                       context.epoch, row["parameter"], row["gradient_norm"], self.exploding)
        activation_folder, gradient_folder = context.run_dir / layout.ACTIVATIONS_FOLDER, context.run_dir / layout.GRADIENTS_FOLDER
        activation_folder.mkdir(exist_ok=True)
        gradient_folder.mkdir(exist_ok=True)
        activation_table = pd.DataFrame(self.activation_rows)
        gradient_table = pd.DataFrame(self.gradient_rows)
        activation_table.to_csv(activation_folder / "activations.csv", index=False)
        gradient_table.to_csv(gradient_folder / "gradients.csv", index=False)
        if not context.is_last_epoch:
            return
        if not activation_table.empty:
            groups = list(activation_table.groupby("layer", sort=False))
            panels = [(f"activation {statistic}", {layer: (rows["epoch"].tolist(), rows[statistic].tolist())
                                                   for layer, rows in groups})
                      for statistic in ("mean", "std", "dead_fraction")]
            plots.plot_curve_panels(panels, activation_folder / "activations.png")
        if not gradient_table.empty:
            series = {name: (rows["epoch"].tolist(), rows["gradient_norm"].tolist())
                      for name, rows in gradient_table.groupby("parameter", sort=False)}
            plots.plot_curves(series, gradient_folder / "gradient_norm.png", "gradient L2 norm per parameter",
                              ylabel="L2 norm")
