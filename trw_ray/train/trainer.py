"""The Trainer: trains a model returning ``{name: Output}`` on ``{dataset: {split: batches}}`` and fills a
run folder (``trainer.txt``, ``last.model``, ``last.model.result`` and whatever the callbacks write)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from trw_ray import layout
from trw_ray.checks import positive_int
from trw_ray.layout import TRAIN_SPLIT
from trw_ray.outputs import Output
from trw_ray.train import callbacks as callbacks_module
from trw_ray.train import distributed, tune_bridge
from trw_ray.train.callbacks.base import StopRun, TrainerContext
from trw_ray.train.fit_inputs import normalize_optimizers, validate_datasets
from trw_ray.train.model_io import save_model
from trw_ray.train.options import create_default_options, resolve_device
from trw_ray.train.run_folder import close_run_logger, create_run_directory, create_run_logger
from trw_ray.train.run_result import fit_results, model_metadata, write_run_result
from trw_ray.train.step import (
    STEP_METRICS,
    BatchResult,
    Runtime,
    Step,
    StepContext,
    TrainingDivergedError,
    TrainingStep,
)
from trw_ray.train.world import current_world

EXAMPLE_BATCH_SIZE = 8
SPLIT_SAMPLES = 16
MODEL_FILENAME = layout.MODEL_FILE

__all__ = ["Trainer", "TrainingDivergedError", "create_run_directory"]


def _split_order(splits: Mapping[str, Any]) -> list[str]:
    return sorted(splits, key=lambda name: name != TRAIN_SPLIT)


def _to_numpy(tensors: list[torch.Tensor]) -> np.ndarray:
    joined = torch.cat([t if t.dim() else t.reshape(1) for t in tensors])
    if joined.dtype in (torch.bfloat16, torch.float16):
        joined = joined.float()
    return joined.cpu().numpy()


class Trainer:
    """Trains and evaluates a model, then leaves a run folder with its reports.

    Args:
        callbacks_pre_training_fn: ``() -> [callback]`` run once before training; None for the defaults.
        callbacks_per_epoch_fn: ``() -> [callback]`` run after every epoch; None for the defaults
            (epoch summary, per-sample tables, model and data summaries, TensorBoard, worst samples...).
        callbacks_post_training_fn: ``() -> [callback]`` run once after training; None for the defaults
            (best history, ONNX export).
        strict_callbacks: a failing callback stops training (by default it is logged and training goes on).
        step_fn: ``() -> Step`` (e.g. a :class:`~trw_ray.train.step.Step` subclass): what one training batch does;
            None for :class:`~trw_ray.train.step.TrainingStep` (forward, backward, optimizer update). See
            :mod:`trw_ray.train.step` for the contract and an example that alternates with a second split.
        workers: train data-parallel on N processes with DistributedDataParallel, run by Ray Train: ``2``, or
            ``{'workers': 2, 'cpu_per_worker': 1, 'gpu_per_worker': 1, 'max_failures': 1}``; each split's batch
            size is then one worker's batch. None (default) or 1: this process. See :mod:`trw_ray.train.distributed`.

    Inside a search trial (``trw_ray.hparams.search``) the same ``fit`` trains in the trial's folder and the search
    attaches what it needs (its report every epoch, checkpoint and resume): see :mod:`trw_ray.train.tune_bridge`.

    Examples:
        >>> trainer = Trainer()
        >>> model, results = trainer.fit(options, inputs_fn=lambda: datasets, model_fn=lambda options: Net(),
        ...     optimizers_fn=lambda datasets, model: create_sgd_optimizers_fn(datasets, model, learning_rate=0.1))
    """

    def __init__(
        self,
        callbacks_pre_training_fn: Callable[[], list] | None = None,
        callbacks_per_epoch_fn: Callable[[], list] | None = None,
        callbacks_post_training_fn: Callable[[], list] | None = None,
        strict_callbacks: bool = False,
        step_fn: Callable[[], Step] | None = None,
        workers: int | Mapping[str, Any] | None = None,
    ):
        for name, value in (("callbacks_pre_training_fn", callbacks_pre_training_fn),
                            ("callbacks_per_epoch_fn", callbacks_per_epoch_fn),
                            ("callbacks_post_training_fn", callbacks_post_training_fn)):
            if value is not None and not callable(value):
                raise TypeError(f"{name}: expected None or a function returning a list of callbacks; got {value!r}")
        if step_fn is not None and (not callable(step_fn) or isinstance(step_fn, Step)):
            raise TypeError(f"step_fn: expected None or a function returning a trw_ray.train.Step (e.g. the class "
                            f"itself: one step per fit); got {step_fn!r}")
        self.callbacks_pre_training_fn = callbacks_pre_training_fn or callbacks_module.default_pre_training_callbacks
        self.callbacks_per_epoch_fn = callbacks_per_epoch_fn or callbacks_module.default_per_epoch_callbacks
        self.callbacks_post_training_fn = callbacks_post_training_fn or callbacks_module.default_post_training_callbacks
        self.strict_callbacks = strict_callbacks
        self.step_fn = step_fn or TrainingStep
        self.workers = distributed.workers_config(workers)

    # ------------------------------------------------------------------ public API

    def fit(
        self,
        options: dict[str, Any] | None = None,
        inputs_fn: Callable[[], Mapping] | None = None,
        model_fn: Callable[[dict], torch.nn.Module] | None = None,
        optimizers_fn: Callable[[Mapping, torch.nn.Module], Any] | None = None,
        run_prefix: str = "default",
        eval_every_X_epoch: int = 1,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        """Trains the model and returns ``(model, results)``.

        Args:
            options: from :func:`create_default_options`; None for the defaults.
            inputs_fn: ``() -> {dataset: {split: sequence of dict batches}}``; the split named ``train``
                trains, every other split is evaluated.
            model_fn: ``options -> nn.Module`` whose ``forward(batch)`` returns ``{output_name: Output}``.
            optimizers_fn: ``(datasets, model) -> optimizers`` (e.g. :func:`create_sgd_optimizers_fn`);
                None evaluates only.
            run_prefix: the run folder is ``<logging_directory>/<run_prefix>_rN``.
            eval_every_X_epoch: evaluate the non-train splits every X epochs (and always at the last one).

        Returns:
            ``results['outputs'][dataset][split][output][key]`` per-sample numpy arrays of the last evaluation
            (``output``, ``output_truth``, ``loss``, ``sample_uid``...) and
            ``results['outputs'][dataset][split]['overall_loss']['loss']``; ``results['history']``, one
            ``[dataset][split][output][metric]`` dict per epoch; ``results['run_dir']``.

        Raises:
            TrainingDivergedError: the loss became NaN or infinite (``last.model`` keeps the last good epoch).
        """
        if inputs_fn is None or not callable(inputs_fn):
            raise TypeError(f"inputs_fn: expected a function returning the datasets; got {inputs_fn!r}")
        if model_fn is None or not callable(model_fn):
            raise TypeError(f"model_fn: expected a function options -> torch.nn.Module; got {model_fn!r}")
        if optimizers_fn is not None and not callable(optimizers_fn):
            raise TypeError(f"optimizers_fn: expected None or a function (datasets, model) -> optimizers; got {optimizers_fn!r}")
        positive_int(eval_every_X_epoch, "eval_every_X_epoch")
        options = create_default_options() if options is None else options
        if not isinstance(options, Mapping) or "workflow_options" not in options or "training_parameters" not in options:
            raise TypeError(f"options: expected the dict of create_default_options(); got {type(options).__name__}")
        options["workflow_options"]["device"] = resolve_device(options["workflow_options"].get("device"))
        search = tune_bridge.current()
        workers = self.workers or (search.workers if search is not None else None)
        if (workers is not None and not current_world().is_distributed
                and (search is None or search.mode == "trial")):  # a discovery run only builds: one process
            with tune_bridge.attach_search(options):
                return distributed.fit_on_workers(self, workers, options, inputs_fn, model_fn, optimizers_fn,
                                                  run_prefix, eval_every_X_epoch, search)
        with tune_bridge.attach_search(options) as search:
            return self._fit(options, inputs_fn, model_fn, optimizers_fn, run_prefix, eval_every_X_epoch, search)

    def fit_in_run_folder(self, run_dir: str | Path, options, inputs_fn, model_fn, optimizers_fn,
                          run_prefix: str = "trainer", eval_every_X_epoch: int = 1):
        """Trains as :meth:`fit` does, in the given run folder, with no search attached: what each worker of a
        data-parallel fit runs (:mod:`trw_ray.train.distributed`; rank 0 in the run's folder, the others in scratch
        folders). Returns ``(model, results)``."""
        return self._fit(options, inputs_fn, model_fn, optimizers_fn, run_prefix, eval_every_X_epoch, None,
                         run_dir=Path(run_dir))

    def _fit(self, options, inputs_fn, model_fn, optimizers_fn, run_prefix, eval_every_X_epoch, search, run_dir=None):
        if run_dir is None:
            run_dir = create_run_directory(options["workflow_options"]["logging_directory"], run_prefix)
        logger = create_run_logger(run_dir, console=options["workflow_options"].get("console_log", True))
        context = TrainerContext(options=options, run_dir=run_dir, logger=logger)
        self._context = context
        status, error_message = "failed", None
        try:
            logger.info("run folder: %s", run_dir)
            self._setup(context, inputs_fn, model_fn, optimizers_fn)
            pre_training, per_epoch = self.callbacks_pre_training_fn(), self.callbacks_per_epoch_fn()
            post_training = self.callbacks_post_training_fn
            if search is not None:
                pre_training = [*search.pre_training_callbacks(), *(pre_training or [])]
                per_epoch = search.per_epoch_callbacks(per_epoch or [])
            pre_training, per_epoch, post_training = current_world().callbacks(pre_training, per_epoch, post_training)
            self._run_callbacks(pre_training, context, "pre-training")
            first_epoch = epoch = context.epoch
            evaluated = False
            while epoch < context.num_epochs:  # a callback may shorten the run (context.stop_training)
                evaluated = (epoch + 1) % eval_every_X_epoch == 0 or epoch == context.num_epochs - 1
                self._run_epoch(context, epoch, evaluated)
                self._run_callbacks(per_epoch, context, f"epoch {epoch + 1}")
                epoch += 1
            if context.stop_reason is not None:
                logger.info("training stopped early after epoch %d: %s", context.epoch, context.stop_reason)
            if first_epoch >= context.num_epochs or not evaluated:  # resumed at the end, or stopped: evaluate
                self._evaluate_splits(context)
            self._run_callbacks(post_training(), context, "post-training")
            status = "completed"
        except TrainingDivergedError as error:
            status, error_message = "diverged", str(error)
            logger.error("%s", error)
            raise
        except StopRun as stop:
            status, error_message = "stopped", str(stop) or type(stop).__name__
            logger.info("run stopped: %s", error_message)
            raise
        except BaseException as error:
            error_message = f"{type(error).__name__}: {error}"
            logger.error("training failed:\n%s", traceback.format_exc())
            raise
        finally:
            write_run_result(context, status, error_message)
            self._close_sequences(context)
            close_run_logger(logger)
        return context.model, fit_results(context)

    # ------------------------------------------------------------------ set-up

    def _setup(self, context: TrainerContext, inputs_fn, model_fn, optimizers_fn) -> None:
        options = context.options
        seed = options["training_parameters"].get("seed")
        if seed is not None:
            torch.manual_seed(seed)
        world = current_world()
        context.datasets = world.shard_datasets(validate_datasets(inputs_fn()))
        model = model_fn(options)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model_fn: expected it to return a torch.nn.Module; got {type(model).__name__}")
        device = options["workflow_options"]["device"]
        context.model = model.to(device)
        forward = world.forward_module(context.model, device, options["workflow_options"].get("data_parallel", "auto"))
        returned = optimizers_fn(context.datasets, context.model) if optimizers_fn is not None else None
        context.optimizers, context.schedulers = normalize_optimizers(returned, context.datasets)
        self._runtime = Runtime(context.model, forward, options)
        self._runtime.evaluation_module = world.evaluation_module(context.model, forward)
        step = self.step_fn()
        if not isinstance(step, Step):
            raise TypeError(f"step_fn: expected it to return a trw_ray.train.Step; got {type(step).__name__}")
        step.setup(context)
        context.step = step
        splits = {d: list(s) for d, s in context.datasets.items()}
        context.logger.info("device: %s%s, datasets: %s, epochs: %d", device, world.describe(forward), splits,
                            context.num_epochs)

    # ------------------------------------------------------------------ loop

    def _run_epoch(self, context: TrainerContext, epoch: int, evaluate: bool) -> None:
        entry: dict[str, dict] = {}
        for dataset_name, splits in context.datasets.items():
            for split_name in _split_order(splits):
                optimizer = context.optimizers.get(dataset_name)
                train = split_name == TRAIN_SPLIT and optimizer is not None
                if not train and not evaluate:
                    continue
                metrics, collected = self._run_split(context, epoch, dataset_name, split_name, splits[split_name], optimizer, train)
                entry.setdefault(dataset_name, {})[split_name] = metrics
                context.outputs.setdefault(dataset_name, {})[split_name] = collected
        context.learning_rates.append(
            {name: float(optimizer.param_groups[0]["lr"]) for name, optimizer in context.optimizers.items()}
        )
        for scheduler in context.schedulers.values():
            scheduler.step()
        context.history.append(entry)
        context.epoch = epoch + 1
        if current_world().is_main:
            save_model(context.run_dir / MODEL_FILENAME, context.model, model_metadata(context))

    def _evaluate_splits(self, context: TrainerContext) -> None:
        """Evaluates every split without training (fills ``context.outputs``, adds no history entry)."""
        for dataset_name, splits in context.datasets.items():
            for split_name in _split_order(splits):
                _, collected = self._run_split(context, max(context.epoch - 1, 0), dataset_name, split_name,
                                               splits[split_name], None, False)
                context.outputs.setdefault(dataset_name, {})[split_name] = collected

    def _run_split(self, context, epoch, dataset_name, split_name, split, optimizer, train):
        options = context.options
        runtime = self._runtime
        step_context = StepContext(context, runtime, dataset_name, split_name, optimizer if train else None, epoch)
        where = step_context.where
        step = context.step if train else None
        context.model.train(train)
        collectors: dict[str, dict[str, list[torch.Tensor]]] = {}
        sample_uids: list[torch.Tensor] = []
        num_samples, batch_index = 0, -1
        if train:
            optimizer.zero_grad(set_to_none=True)
        show_bar = options["workflow_options"].get("progress_bar")
        show_bar = sys.stderr.isatty() if show_bar is None else show_bar
        batches = split
        if show_bar:
            total = len(split) if hasattr(split, "__len__") else None
            batches = tqdm(split, total=total, desc=f"{dataset_name}/{split_name} {epoch + 1}/{context.num_epochs}",
                           leave=False, dynamic_ncols=True)
        with torch.set_grad_enabled(train), current_world().join(runtime.forward_module, train):
            for batch_index, raw_batch in enumerate(batches):
                batch = runtime.prepare(raw_batch, where)
                step_context.batch_index = batch_index
                result = step(step_context, batch) if train else step_context.forward(batch)
                if not isinstance(result, BatchResult):
                    raise TypeError(f"{where}: the training step must return the BatchResult of its batch "
                                    f"(ctx.forward(batch)); got {type(result).__name__}")
                if batch_index == 0:
                    self._note_outputs(context, result.outputs)
                for output_name, evaluation in result.evaluations.items():
                    store = collectors.setdefault(output_name, {})
                    for key, value in evaluation.collect.items():
                        store.setdefault(key, []).append(value)
                size = result.size
                uid = batch.get("sample_uid")
                if uid is None:
                    uid = torch.arange(num_samples, num_samples + size)
                elif not isinstance(uid, torch.Tensor) or uid.dim() != 1:
                    uid = torch.as_tensor(uid).reshape(-1)
                sample_uids.append(uid)
                if context.example_batch is None:
                    context.example_batch = self._example_batch(batch)
                if batch_index == 0 and epoch == 0:
                    context.split_samples.setdefault(dataset_name, {})[split_name] = {
                        name: (value.detach().cpu() if isinstance(value, torch.Tensor) else value)
                        for name, value in self._example_batch(batch, SPLIT_SAMPLES).items()}
                num_samples += size
        if batch_index < 0:
            raise ValueError(f"{where}: the split produced no batch (empty split)")
        if train:
            step.end_split(step_context)
        metrics, collected = self._summarize(context, collectors, sample_uids)
        if train and step_context.metrics:
            metrics[STEP_METRICS] = step_context.metric_means()
        return metrics, collected

    @staticmethod
    def _note_outputs(context: TrainerContext, outputs: Mapping[str, Output]) -> None:
        for output_name, output in outputs.items():
            context.output_types[output_name] = type(output)
            target = getattr(output, "classes_name", None) or getattr(output, "target_name", None)
            if target is not None:
                context.output_targets[output_name] = target

    @staticmethod
    def _summarize(context, collectors, sample_uids):
        collectors, sample_uids = current_world().gather_split(collectors, sample_uids)
        uids = torch.cat([u.cpu() for u in sample_uids]).numpy()
        metrics, collected_all = {}, {}
        overall = 0.0
        for output_name, store in collectors.items():
            collected = {key: _to_numpy(values) for key, values in store.items()}
            collected["sample_uid"] = uids
            output_type = context.output_types[output_name]
            collected = output_type.finalize(collected)
            metrics[output_name] = output_type.metrics(collected)
            overall += metrics[output_name].get("loss", 0.0)
            collected_all[output_name] = collected
        metrics["overall_loss"] = {"loss": overall}
        collected_all["overall_loss"] = {"loss": overall}
        return metrics, collected_all

    @staticmethod
    def _example_batch(batch: Mapping[str, Any], size: int = EXAMPLE_BATCH_SIZE) -> dict[str, Any]:
        example = {}
        for name, value in batch.items():
            if isinstance(value, (torch.Tensor, list, tuple, np.ndarray)) and len(value) > 0:
                example[name] = value[:size]
            else:
                example[name] = value
        return example

    # ------------------------------------------------------------------ callbacks and files

    def _run_callbacks(self, callbacks: Iterable, context: TrainerContext, phase: str) -> None:
        for callback in callbacks or []:
            name = getattr(callback, "name", type(callback).__name__)
            started = time.perf_counter()
            try:
                callback(context)
            except StopRun:
                raise
            except Exception:
                context.logger.error("callback %s failed (%s):\n%s", name, phase, traceback.format_exc())
                if self.strict_callbacks or getattr(callback, "strict", False):
                    raise
            else:
                context.logger.debug("callback %s (%s) took %.3f s", name, phase, time.perf_counter() - started)

    @staticmethod
    def _close_sequences(context: TrainerContext) -> None:
        for splits in context.datasets.values():
            for split in splits.values():
                close = getattr(split, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:
                        context.logger.error("closing a sequence failed:\n%s", traceback.format_exc())
