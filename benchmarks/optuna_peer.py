"""The peer of ``search_efficiency.py`` part (a): Optuna's TPE with its Hyperband pruner, same space, same trial
function (``trw_ray.examples.mnist_search:evaluate_hparams`` seeded as a trw_ray trial), same total budget.

Two worker processes share one study (Optuna's journal storage, its multi-process recipe) as trw_ray runs 2 trials
at a time. A worker starts no trial once the epochs reported by all trials reach the budget, as
``search(max_total_epochs=...)``. Every epoch report and every final test loss is written as a trw_ray experiment
record, so the best-so-far curve comes from the very same ``results.anytime`` as trw_ray's.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import trw_ray as trw
from trw_ray import layout
from trw_ray.hparams.space import load_space
from trw_ray.hparams.tuning.trial import trial_process_state, trial_seed
from trw_ray.train.callbacks.base import Callback
from trw_ray.train.tune_bridge import evaluated_metric_value


class ReportToOptuna(Callback):
    """After each epoch: the validation loss to Optuna's trial (and the record); pruned when the pruner says so."""

    def __init__(self, trial, log):
        super().__init__(strict=True)  # the TrialPruned it raises must end the run
        self.trial, self.log = trial, log

    def __call__(self, context) -> None:
        import optuna

        loss = evaluated_metric_value(context.history, "loss")
        self.log(context.epoch, loss, final=False)
        self.trial.report(loss, context.epoch)
        if context.epoch < context.num_epochs and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {context.epoch}")


def _suggest(trial, parameters):
    config = {}
    for name, spec in parameters.items():
        kind = type(spec).__name__
        if kind == "ContinuousPower":
            config[name] = trial.suggest_float(name, 10.0 ** spec.exponent_min, 10.0 ** spec.exponent_max, log=True)
        elif kind == "DiscreteInteger":
            config[name] = trial.suggest_int(name, spec.min, spec.max)
        else:
            raise ValueError(f"the peer does not map {kind} ({name})")
    return config


def _consumed(study) -> int:
    return sum(len(trial.intermediate_values) for trial in study.get_trials(deepcopy=False))


def _worker(space_file: str, journal: str, seed: int, epochs: int, budget: int, record_dir: str, worker: int) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ["TRW_RAY_LOGGING_ROOT"] = os.path.join(record_dir, f"runs_{worker}")
    space = load_space(space_file)
    kwargs = dict(space.trainable_kwargs, num_epochs=epochs)
    storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.load_study(study_name="peer", storage=storage,
                              sampler=optuna.samplers.TPESampler(seed=seed + 1000 * worker),
                              pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                                                    reduction_factor=3))
    history = Path(record_dir) / layout.RECORD_FOLDER / layout.HISTORY_FILE

    def objective(trial):
        config = _suggest(trial, space.parameters)
        trial_id = f"w{worker}_{trial.number}"

        def log(epoch, loss, final):
            row = {"trial_id": trial_id, "training_iteration": epoch, "loss": loss, "recorded_at": time.time()}
            if final:
                row["trw_final"] = True
            with open(history, "a", encoding="utf-8") as file:
                file.write(json.dumps(row) + "\n")

        with trial_process_state(trial_seed(seed, config), threads=1):
            test_loss, _ = space.resolve_trainable()(
                trw.hparams.HyperParameters(config, space.parameters),
                **dict(kwargs, callbacks_per_epoch_fn=lambda: [ReportToOptuna(trial, log)]))
        log(epochs, test_loss, final=True)
        return test_loss

    def stop_when_spent(study, _trial):
        if _consumed(study) >= budget:
            study.stop()

    while _consumed(study) < budget:
        study.optimize(objective, n_trials=1, callbacks=[stop_when_spent], catch=())


def run_peer(space_file: str, seed: int, epochs: int, budget: int, record_dir: str, workers: int = 2):
    """Runs the peer into ``record_dir`` (a trw_ray experiment record); returns its ``ExperimentResults``."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    record = Path(record_dir) / layout.RECORD_FOLDER
    record.mkdir(parents=True, exist_ok=True)
    (record / layout.SEARCH_FILE).write_text(json.dumps({"name": "optuna_tpe_hyperband", "algorithm": "optuna",
                                                         "metric": "loss", "mode": "min", "created": time.time()}))
    journal = str(Path(record_dir) / "optuna.journal")
    optuna.create_study(study_name="peer", storage=JournalStorage(JournalFileBackend(journal)), direction="minimize")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(space_file, journal, seed, epochs, budget, record_dir, index))
                 for index in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"an Optuna worker failed (exit code {process.exitcode})")
    return trw.results.load(record_dir)
