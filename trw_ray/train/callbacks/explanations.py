"""Model understanding: ``explanations/`` and ``attention/``.

For the worst samples (highest loss) of the first evaluated split, each classification output is explained with
Grad-CAM (Selvaraju et al. 2017) on the model's last 2-D convolution, or with integrated gradients
(Sundararajan et al. 2017, zero baseline) when the model has none. Modules that return attention weights
(``nn.MultiheadAttention``, or any module with ``returns_attention = True`` whose output's last element is the
weights) get their maps exported for the same samples.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trw_ray import layout
from trw_ray.lazy_import import lazy_module
from trw_ray.train.callbacks.base import Callback, TrainerContext
from trw_ray.train.callbacks.batch_features import first_image_feature
from trw_ray.train.callbacks.classification_report import classification_outputs
from trw_ray.train.callbacks.export_onnx import KeyRecordingDict

plots = lazy_module("trw_ray.reports.plots")


def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def grad_cam(model, batch, output_name: str, classes: torch.Tensor, layer: torch.nn.Module, size) -> np.ndarray:
    """Grad-CAM maps in [0, 1], one per sample, upsampled to ``size`` (H, W)."""
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["activation"] = output

    hook = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(batch)[output_name].output
            logits.gather(1, classes[:, None]).sum().backward()
    finally:
        hook.remove()
    activation = captured["activation"]
    weights = activation.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    cam = cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    return cam.detach().cpu().numpy()


def integrated_gradients(model, batch, feature: str, output_name: str, classes: torch.Tensor, steps: int = 32) -> np.ndarray:
    """Attributions of ``feature`` (same shape), zero baseline, Riemann sum over ``steps`` points."""
    inputs = batch[feature].float()
    total = torch.zeros_like(inputs)
    for alpha in torch.linspace(1.0 / steps, 1.0, steps):
        scaled = (inputs * alpha).detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model({**batch, feature: scaled})[output_name].output
            gradient, = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), scaled)
        total += gradient
    return (inputs * total / steps).detach().cpu().numpy()


def _normalized_magnitude(attribution: np.ndarray) -> np.ndarray:
    magnitude = np.abs(attribution)
    while magnitude.ndim > 2:
        magnitude = magnitude.sum(axis=0)
    high = magnitude.max()
    return magnitude / high if high > 0 else magnitude


class CallbackExplainWorstSamples(Callback):
    """Writes explanation maps of the ``max_samples`` worst samples, and attention maps when present."""

    def __init__(self, max_samples: int = 8, strict: bool = False):
        super().__init__(strict=strict)
        self.max_samples = max_samples

    def __call__(self, context: TrainerContext) -> None:
        model = context.model
        device = context.options["workflow_options"]["device"]
        candidates = [item for item in classification_outputs(context) if item[1] != "train"] or \
            list(classification_outputs(context))
        if not candidates:
            return
        dataset, split, output_name, collected = candidates[0]
        worst = np.argsort(-collected["loss"])[: self.max_samples]
        uids = collected["sample_uid"][worst]
        samples = context.samples_by_uid(dataset, split, uids)
        if samples is None:
            context.logger.info("explanations: %s/%s cannot look samples up by uid; skipped", dataset, split)
            return
        batch = _to_device(samples, device)
        recorder = KeyRecordingDict(batch)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(recorder)
            classes = torch.as_tensor(collected["output"][worst], device=device).long()
            titles = [f"uid {uid} loss {collected['loss'][i]:.2f}\npred {collected['output'][i]} truth "
                      f"{collected['output_truth'][i]}" for uid, i in zip(uids, worst, strict=False)]
            image_name = first_image_feature({k: samples[k] for k in recorder.read_keys if k in samples})
            folder = context.run_dir / layout.EXPLANATIONS_FOLDER
            prefix = f"{output_name}-{dataset}-{split}"
            convolutions = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
            if convolutions and image_name is not None and samples[image_name].dim() == 4:
                maps = grad_cam(model, batch, output_name, classes, convolutions[-1], tuple(samples[image_name].shape[2:]))
                plots.plot_image_grid([np.asarray(x) for x in samples[image_name]], titles, folder / f"{prefix}-gradcam.png",
                                      title=f"Grad-CAM of the predicted class, {len(uids)} worst samples", overlays=list(maps))
            else:
                feature = image_name or next((k for k in recorder.read_keys if isinstance(batch.get(k), torch.Tensor)
                                              and batch[k].is_floating_point()), None)
                if feature is None:
                    return
                attributions = integrated_gradients(model, batch, feature, output_name, classes)
                if image_name is not None:
                    plots.plot_image_grid([np.asarray(x) for x in samples[image_name]], titles,
                                          folder / f"{prefix}-integrated_gradients.png",
                                          title="integrated gradients of the predicted class",
                                          overlays=[_normalized_magnitude(a) for a in attributions])
                else:
                    matrix = np.abs(attributions.reshape(len(attributions), -1))
                    plots.plot_heatmap(matrix, folder / f"{prefix}-integrated_gradients.png",
                                       title=f"integrated gradients of {feature!r} (|attribution|)",
                                       xlabel="feature index", ylabel="sample", colorbar_label="|attribution|",
                                       yticklabels=[str(u) for u in uids])
            self._attention_maps(context, model, batch, uids, f"{dataset}-{split}")
        finally:
            model.train(was_training)
            for parameter in model.parameters():
                parameter.grad = None

    def _attention_maps(self, context, model, batch, uids, suffix) -> None:
        captured: dict[str, torch.Tensor] = {}
        hooks = []
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.MultiheadAttention) or getattr(module, "returns_attention", False):
                def keep(module, inputs, output, name=name):
                    if isinstance(output, (tuple, list)) and isinstance(output[-1], torch.Tensor):
                        captured[name] = output[-1].detach().float().cpu()
                hooks.append(module.register_forward_hook(keep))
        if not hooks:
            return
        try:
            with torch.no_grad():
                model(batch)
        finally:
            for hook in hooks:
                hook.remove()
        for name, weights in captured.items():
            while weights.dim() > 3:  # (N, heads, L, S) -> average of the heads
                weights = weights.mean(dim=1)
            for index in range(min(len(uids), weights.shape[0], 4)):
                plots.plot_heatmap(weights[index].numpy(), context.run_dir / layout.ATTENTION_FOLDER / f"{name}-{suffix}-uid{uids[index]}.png",
                                   title=f"attention of {name}, sample {uids[index]}", xlabel="key position",
                                   ylabel="query position", colorbar_label="weight", cmap="viridis")
