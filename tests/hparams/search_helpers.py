"""Trainables of the search tests (importable by Ray workers: conftest puts this folder on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

import trw_ray as trw
from trw_ray.hparams import ContinuousPower, ContinuousUniform, DiscreteValue


def quadratic(hparams):
    x = hparams.create("x", ContinuousUniform(0.5, -2.0, 2.0))
    kind = hparams.create("kind", DiscreteValue("a", ["a", "b"]))
    return (x - 1.0) ** 2 + (0.5 if kind == "b" else 0.0), {"kind": kind}


def fails_for_positive_x(hparams):
    x = hparams.create("x", ContinuousUniform(-0.5, -1.0, 1.0))
    if x > 0:
        raise RuntimeError(f"planted failure for x={x:.3f}")
    return x ** 2


def _blobs(seed=0, n=120):
    centers = np.random.default_rng(1234).normal(scale=4.0, size=(3, 4))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = centers[y] + rng.normal(size=(n, 4))
    return {"x": x.astype(np.float32), "y": y.astype(np.int64)}


class _Mlp(nn.Module):
    def __init__(self, units, poison=False):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, units), nn.ReLU(), nn.Linear(units, 3))
        self.poison = poison

    def forward(self, batch):
        logits = self.layers(batch["x"])
        if self.poison:
            logits = logits * float("nan")
        return {"softmax": trw.train.OutputClassification(logits, "y")}


class _FailOnce(trw.train.Callback):
    """Raises at the end of epoch 2 the first time (a marker file remembers it)."""

    def __init__(self, marker):
        super().__init__(strict=True)
        self.marker = Path(marker)

    def __call__(self, context):
        if context.epoch == 2 and str(self.marker) != os.devnull and not self.marker.exists():
            self.marker.write_text("failed once")
            raise RuntimeError("planted failure at epoch 2")


def _identity(batch):
    return batch


def blobs_trainer(hparams, num_epochs=3, poison=False, fail_once_marker=None, device="cpu", train_backend=None,
                  reports=False):
    """``reports``: the Trainer's default callbacks (run report, figures, ONNX export) instead of the epoch summary."""
    lr = hparams.create("lr", ContinuousPower(0.1, -3, 0))
    units = hparams.create("units", DiscreteValue(8, [4, 8, 16]))
    options = trw.train.create_default_options(num_epochs=num_epochs, device=device, progress_bar=False)
    options["workflow_options"]["console_log"] = False
    per_epoch = [trw.train.CallbackEpochSummary()] + ([_FailOnce(fail_once_marker)] if fail_once_marker else [])
    trainer = trw.train.Trainer() if reports else \
        trw.train.Trainer(callbacks_per_epoch_fn=lambda: per_epoch, callbacks_post_training_fn=lambda: [])
    data = _blobs()

    def train_split():
        train = trw.train.SequenceArray(data, batch_size=20, shuffle=True, seed=0)
        return train if train_backend is None else train.map(_identity, nb_workers=1, backend=train_backend)

    _, results = trainer.fit(
        options,
        inputs_fn=lambda: {"blobs": {"train": train_split(),
                                     "valid": trw.train.SequenceArray(_blobs(1, 60), batch_size=30)}},
        model_fn=lambda options: _Mlp(units, poison),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(datasets, model, learning_rate=lr))
    return results["outputs"]["blobs"]["valid"]["overall_loss"]["loss"], {"epochs": len(results["history"])}


def blobs_with_reports(hparams):
    return blobs_trainer(hparams, reports=True)


def blobs_on_cuda(hparams):
    return blobs_trainer(hparams, device="cuda")


def blobs_poisoned(hparams):
    return blobs_trainer(hparams, poison=True)


def _trial_dir():
    from trw_ray.train import tune_bridge

    return tune_bridge.current().run_root.parent


def blobs_fail_once(hparams, train_backend=None):
    marker = _trial_dir() / "failed_once" if hparams.values else Path(os.devnull)  # discovery: never fails
    return blobs_trainer(hparams, fail_once_marker=marker, train_backend=train_backend)


def blobs_on_ray_data_fail_once(hparams):
    """The train split through a Ray Data ``SequenceMap`` (split across a data-parallel trial's workers)."""
    return blobs_fail_once(hparams, train_backend="ray_data")


def state_probe(hparams):
    """Reports what a reused actor could leak: process, search context, torch seed state and thread count."""
    from trw_ray.train import tune_bridge

    hparams.create("only", DiscreteValue("one", ["one"]))
    context = tune_bridge.current()
    probe = {"pid": os.getpid(), "first_random": float(torch.rand(1)), "threads": torch.get_num_threads(),
             "fresh_context": context is not None and context.run_dirs == [] and context.reports == 0}
    torch.manual_seed(12345)  # state a sloppy trial could leave behind
    torch.set_num_threads(1 if torch.get_num_threads() > 1 else 2)
    return 0.0, probe


def slow_quadratic(hparams):
    """Logs each start to starts.log in the experiment folder, then takes a while (the driver is killed meanwhile)."""
    x = hparams.create("x", ContinuousUniform(0.0, -1.0, 1.0))
    with open(_trial_dir().parent / "starts.log", "a") as log:
        log.write(f"{x!r}\n")
    time.sleep(1.5)
    return x * x


def run_driver(storage, name):
    trw.hparams.search(slow_quadratic, space={"x": ContinuousUniform(0.0, -1.0, 1.0)}, num_samples=6, max_concurrent=1, seed=0, storage_path=storage, name=name,
                       verbose=0)


def gpu_probe(hparams):
    """Records the GPUs Ray gave the trial and waits (up to 60 s) until two trials run at the same time."""
    x = hparams.create("x", ContinuousUniform(0.5, 0.0, 1.0))
    experiment = _trial_dir().parent
    (experiment / f"running_{x!r}").write_text("")
    deadline = time.time() + 60
    while time.time() < deadline and len(list(experiment.glob("running_*"))) < 2:
        time.sleep(0.1)
    return 0.0, {"visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                 "together": len(list(experiment.glob("running_*"))) >= 2}


def run_fake_gpu_search(storage):
    """A search on its own Ray that claims one GPU (none exists: Ray only does the bookkeeping)."""
    import json

    import ray

    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=128 * 1024 * 1024)
    results = trw.hparams.search(gpu_probe, space={"x": ContinuousUniform(0.5, 0.0, 1.0)}, num_samples=2,
                                 resources_per_trial={"cpu": 0.5, "gpu": 0.5},
                                 storage_path=storage, name="packed", verbose=0)
    infos = [json.loads(Path(t["trial_dir"], "trw_ray_infos.json").read_text())["infos"]
             for _, t in results.trials().iterrows()]
    print(json.dumps(infos))
    ray.shutdown()


def mnist_with_flipped_labels(hparams):
    """The tour's trainable on the tiny MNIST subset with 1% of the valid split's labels flipped (seeded)."""
    from trw_ray.examples.mnist_search import evaluate_hparams

    return evaluate_hparams(hparams, num_epochs=3, max_train_samples=2000, max_eval_samples=1000, batch_size=100,
                            label_noise={"valid": 0.01})


def blobs_returning_a_loss(hparams):
    """The Trainer on blobs (3 epochs), returning the last valid loss as a number: its accuracy is only reported."""
    return blobs_trainer(hparams)[0]


def own_loop(hparams):
    """A training loop of its own: ``accuracy`` = 1 - x^2 / epoch reported each epoch with trw.hparams.report."""
    x = hparams.create("x", ContinuousUniform(0.5, -1.0, 1.0))
    state = trw.hparams.resume_state()
    first = 0 if state is None else state["epoch"]
    accuracy = None
    for epoch in range(first, trw.hparams.trial_epochs(default=4)):
        accuracy = 1.0 - x * x / (epoch + 1)
        with open(_loop_log(), "a") as log:
            log.write(f"{x!r} {epoch}\n")
        trw.hparams.report({"accuracy": accuracy}, state={"epoch": epoch + 1})
    return {"accuracy": accuracy}


def _loop_log():
    from trw_ray.search_context import current

    context = current()
    if context is None or context.run_root is None:
        folder = Path(os.environ.get("TRW_RAY_LOGGING_ROOT", "."))
    else:
        folder = context.run_root.parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "loop_epochs.log"


def own_loop_on_tune_report(hparams):
    """The same loop reporting with ray.tune.report, returning the last accuracy as a dict."""
    from ray import tune

    x = hparams.create("x", ContinuousUniform(0.5, -1.0, 1.0))
    accuracy = None
    for epoch in range(trw.hparams.trial_epochs(default=4)):
        accuracy = 1.0 - x * x / (epoch + 1)
        with open(_loop_log(), "a") as log:
            log.write(f"{x!r} {epoch}\n")
        tune.report({"accuracy": accuracy})
    return {"accuracy": accuracy}


def run_interrupted_driver(storage, name):
    """A search of slow trials one at a time; the test sends Ctrl+C once the first trial has finished."""
    try:
        trw.hparams.search(slow_quadratic, space={"x": ContinuousUniform(0.0, -1.0, 1.0)}, num_samples=20,
                           max_concurrent=1, seed=0, storage_path=storage, name=name, verbose=0)
    except KeyboardInterrupt as interrupt:
        print(f"KeyboardInterrupt: {interrupt}", flush=True)
        raise
    print("returned as if finished", flush=True)
