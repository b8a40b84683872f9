"""``tensorboard/``: TensorBoard event files written with ``torch.utils.tensorboard.SummaryWriter``.

``CallbackTensorboard``: every metric per epoch, the learning rates, the model graph (first epoch), weight and
gradient histograms (gradients of the debugging pass, see ``CallbackModelDebugging``) and, when the run has
hyper-parameters (``options['workflow_options']['hparams']``, set by a search), the HParams tab.
``CallbackTensorboardEmbedding``: the embedding projector for ``OutputEmbedding`` outputs, with labels and
image sprites.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from trw_ray import layout
from trw_ray.outputs import Output, OutputClassification, OutputEmbedding
from trw_ray.train.callbacks.base import Callback, TrainerContext
from trw_ray.train.callbacks.batch_features import first_image_feature
from trw_ray.train.callbacks.export_onnx import KeyRecordingDict, OnnxExportModule


def _summary_writer(path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(path))


def flatten_metrics(entry: dict) -> dict[str, float]:
    return {f"{dataset}/{split}/{output}/{metric}": value
            for dataset, splits in entry.items() for split, outputs in splits.items()
            for output, metrics in outputs.items() for metric, value in metrics.items() if value is not None}


class CallbackTensorboard(Callback):
    def __init__(self, histograms: bool = True, graph: bool = True, strict: bool = False):
        super().__init__(strict=strict)
        self.histograms, self.graph = histograms, graph
        self.writer = None

    def __call__(self, context: TrainerContext) -> None:
        if self.writer is None:
            self.writer = _summary_writer(context.run_dir / layout.TENSORBOARD_FOLDER)
        writer, epoch = self.writer, context.epoch
        try:
            for tag, value in flatten_metrics(context.history[-1] if context.history else {}).items():
                writer.add_scalar(tag, value, epoch)
            for dataset, learning_rate in (context.learning_rates[-1] if context.learning_rates else {}).items():
                writer.add_scalar(f"{dataset}/learning_rate", learning_rate, epoch)
            if self.graph and epoch == 1 and context.example_batch is not None:
                self._add_graph(context)
            if self.histograms:
                tensors = [(f"weights/{name}", parameter.detach()) for name, parameter in context.model.named_parameters()]
                tensors += [(f"gradients/{name}", gradient) for name, gradient in
                            context.extra.get("debug_gradients", {}).items()]
                skipped = []
                for tag, tensor in tensors:
                    values = tensor.float().cpu()
                    if not values.numel():
                        continue
                    if bool(torch.isfinite(values).all()):
                        writer.add_histogram(tag, values, epoch)
                    else:  # TensorBoard cannot bin NaN or infinities ("The histogram is empty")
                        skipped.append(tag)
                if skipped:
                    context.logger.warning("tensorboard: epoch %d: no histogram for %d tensor(s) holding NaN or "
                                           "infinite values: %s", epoch, len(skipped), ", ".join(skipped))
            hparams = context.options["workflow_options"].get("hparams")
            if context.is_last_epoch and hparams:
                values = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
                writer.add_hparams(values, {f"hparam/{k}": v for k, v in flatten_metrics(context.history[-1]).items()},
                                   run_name=".")
            writer.flush()
        finally:
            if context.is_last_epoch:
                writer.close()
                self.writer = None

    def _add_graph(self, context: TrainerContext) -> None:
        batch = context.example_batch
        recorder = KeyRecordingDict(batch)
        model = context.model
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                outputs = model(recorder)
            names = [k for k in recorder.read_keys if isinstance(batch[k], torch.Tensor)]
            output_names = [k for k, v in outputs.items() if isinstance(v, Output)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.writer.add_graph(OnnxExportModule(model, names, output_names), tuple(batch[k] for k in names))
        except Exception as error:  # a model that cannot be traced still gets every other report
            context.logger.info("tensorboard: model graph not exported (%s: %s)", type(error).__name__, error)
        finally:
            model.train(was_training)


class CallbackTensorboardEmbedding(Callback):
    """Exports embeddings to TensorBoard's projector.

    Args:
        embedding_name: the ``OutputEmbedding`` output to export; None exports every ``OutputEmbedding``.
        dataset_name, split_name: where to take it from (default: every dataset, the first non-train split).
        max_samples: at most this many points.
    """

    def __init__(self, embedding_name: str | None = None, dataset_name: str | None = None,
                 split_name: str | None = None, max_samples: int = 2000, strict: bool = False):
        super().__init__(strict=strict)
        self.embedding_name, self.dataset_name, self.split_name = embedding_name, dataset_name, split_name
        self.max_samples = max_samples

    def __call__(self, context: TrainerContext) -> None:
        names = [self.embedding_name] if self.embedding_name else \
            [n for n, t in context.output_types.items() if issubclass(t, OutputEmbedding)]
        if not names:
            return
        writer = None
        try:
            for dataset, splits in context.outputs.items():
                if self.dataset_name not in (None, dataset):
                    continue
                split = self.split_name or next((s for s in splits if s != "train"), next(iter(splits)))
                outputs = splits.get(split, {})
                for name in names:
                    if name not in outputs:
                        raise KeyError(f"embedding_name: no output {name!r} in {dataset}/{split}; outputs: {sorted(outputs)}")
                    if writer is None:
                        writer = _summary_writer(context.run_dir / layout.TENSORBOARD_FOLDER)
                    self._export(context, writer, dataset, split, name, outputs)
        finally:
            if writer is not None:
                writer.close()

    def _export(self, context, writer, dataset, split, name, outputs) -> None:
        collected = outputs[name]
        count = min(self.max_samples, len(collected["output"]))
        matrix = np.asarray(collected["output"][:count]).reshape(count, -1)
        uids = np.asarray(collected["sample_uid"][:count])
        metadata, header = None, None
        for other, values in outputs.items():
            output_type = context.output_types.get(other)
            if output_type is not None and issubclass(output_type, OutputClassification):
                truth = np.asarray(values["output_truth"][:count])
                class_names = context.class_names(dataset, split, other)
                labels = [class_names[t] if class_names and t < len(class_names) else str(t) for t in truth]
                metadata = [[str(uid), label] for uid, label in zip(uids, labels, strict=False)]
                header = ["sample_uid", other]
                break
        if metadata is None:
            metadata = [str(uid) for uid in uids]
        label_images = None
        samples = context.samples_by_uid(dataset, split, uids)
        image_name = first_image_feature(samples)
        if image_name is not None:
            images = torch.as_tensor(np.asarray(samples[image_name])).float()
            if images.dim() == 3:
                images = images[:, None]
            low, high = images.amin(dim=(1, 2, 3), keepdim=True), images.amax(dim=(1, 2, 3), keepdim=True)
            label_images = (images - low) / (high - low).clamp_min(1e-12)
        writer.add_embedding(torch.as_tensor(matrix).float(), metadata=metadata, metadata_header=header,
                             label_img=label_images, tag=f"{dataset}-{split}-{name}", global_step=context.epoch)
