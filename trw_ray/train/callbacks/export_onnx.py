"""``last.onnx``: the trained model exported with ``torch.onnx``, checked with ``onnx.checker`` and, when
onnxruntime is installed, compared with PyTorch's outputs on a real batch."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from trw_ray import layout
from trw_ray.outputs import Output
from trw_ray.train.callbacks.base import Callback, TrainerContext


class KeyRecordingDict(dict):
    """A batch that remembers which features the model read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_keys: list[str] = []

    def __getitem__(self, key):
        if key not in self.read_keys:
            self.read_keys.append(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key in self and key not in self.read_keys:
            self.read_keys.append(key)
        return super().get(key, default)


class OnnxExportModule(torch.nn.Module):
    """Adapts a ``forward(batch) -> {name: Output}`` model to positional tensors in, tensors out."""

    def __init__(self, model: torch.nn.Module, input_names: list[str], output_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names
        self.output_names = output_names

    def forward(self, *features: torch.Tensor):
        outputs = self.model(dict(zip(self.input_names, features, strict=False)))
        return tuple(_output_tensor(outputs[name]) for name in self.output_names)


def _output_tensor(output: Any) -> torch.Tensor:
    return output.output if isinstance(output, Output) else output


def export_onnx(model: torch.nn.Module, batch: Mapping[str, Any], path, opset_version: int = 17) -> dict[str, Any]:
    """Exports ``model`` to ``path`` with a dynamic batch dimension; returns what was exported.

    Only the features the model reads are ONNX inputs; outputs are the tensors of the model's ``Output``s.
    """
    import onnx

    was_training = model.training
    model.eval()
    try:
        recorder = KeyRecordingDict(batch)
        with torch.no_grad():
            outputs = model(recorder)
        input_names = [key for key in recorder.read_keys if isinstance(batch[key], torch.Tensor)]
        if not input_names:
            raise ValueError("export_onnx: the model reads no tensor feature from the batch; nothing to export")
        output_names = [name for name, output in outputs.items() if isinstance(_output_tensor(output), torch.Tensor)]
        wrapper = OnnxExportModule(model, input_names, output_names)
        arguments = tuple(batch[name] for name in input_names)
        dynamic_axes = {name: {0: "batch"} for name in [*input_names, *output_names]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                arguments,
                str(path),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=opset_version,
                dynamo=False,
            )
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        with torch.no_grad():
            expected = {name: _output_tensor(outputs[name]).detach().float().cpu().numpy() for name in output_names}
    finally:
        model.train(was_training)
    return {"inputs": input_names, "outputs": output_names, "expected": expected,
            "feeds": {name: batch[name].detach().cpu().numpy() for name in input_names}}


def compare_with_onnxruntime(path, feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> float | None:
    """Max absolute difference between onnxruntime's and PyTorch's outputs; None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    results = session.run(list(expected), feeds)
    return max(float(np.max(np.abs(result.astype(np.float64) - expected[name].astype(np.float64))))
               for name, result in zip(expected, results, strict=False))


class CallbackExportOnnx(Callback):
    """Writes ``last.onnx`` (or ``filename``) from the trained model and the run's example batch."""

    def __init__(self, filename: str = layout.ONNX_FILE, opset_version: int = 17, strict: bool = False):
        super().__init__(strict=strict)
        self.filename = filename
        self.opset_version = opset_version

    def __call__(self, context: TrainerContext) -> None:
        if context.model is None or context.example_batch is None:
            context.logger.warning("CallbackExportOnnx: no model or batch to export")
            return
        path = context.run_dir / self.filename
        exported = export_onnx(context.model, context.example_batch, path, opset_version=self.opset_version)
        difference = compare_with_onnxruntime(path, exported["feeds"], exported["expected"])
        context.extra["onnx"] = {"path": str(path), "inputs": exported["inputs"], "outputs": exported["outputs"],
                                 "max_abs_difference": difference}
        if difference is None:
            context.logger.info("ONNX export: %s (inputs %s, outputs %s); onnxruntime not installed, outputs not compared",
                                path.name, exported["inputs"], exported["outputs"])
        else:
            context.logger.info("ONNX export: %s (inputs %s, outputs %s); max abs difference onnxruntime vs PyTorch: %.3g",
                                path.name, exported["inputs"], exported["outputs"], difference)
