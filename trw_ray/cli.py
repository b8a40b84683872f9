"""``trw-ray``: the command line. Parsing only; every command delegates to the Python API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trw_ray import layout


def _tour(args: argparse.Namespace) -> int:
    from trw_ray.examples.mnist_tour import run_training

    print(f"trw_ray tour: training the MNIST CNN for {args.epochs} epoch(s)"
          + (f" on {args.max_train_samples} training samples" if args.max_train_samples else "") + " ...", flush=True)
    summary = run_training(num_epochs=args.epochs, max_train_samples=args.max_train_samples, batch_size=args.batch_size,
                           augment=args.augment, workers=args.workers,
                           logging_directory=args.logging_directory, device=args.device)
    print(f"run folder: {summary['run_dir']}")
    print(f"report: {Path(summary['run_dir']) / 'index.html'}")
    print(f"test accuracy: {summary['test_accuracy']:.4f} ({summary['seconds']:.1f} s)")
    if args.search_trials:
        _tour_search(args)
    return 0


def _tour_search(args: argparse.Namespace) -> None:
    import time

    from trw_ray.hparams.tuning.driver import search
    from trw_ray.io import default_logging_directory
    from trw_ray.reports.search import search_report

    space = Path(__file__).resolve().parent.parent / "search_spaces" / "mnist_cnn_tiny.yaml"
    if not space.is_file():
        raise ValueError(f"--search-trials: the search needs the repository's search_spaces/ folder ({space} is "
                         "missing); run from a clone or pass --search-trials 0")
    storage = Path(args.logging_directory or default_logging_directory()) / layout.DEFAULT_SEARCHES_FOLDER
    print(f"trw_ray tour: {args.search_algorithm} search of {args.search_trials} trials over {space.name} "
          "on a local Ray ...", flush=True)
    started = time.perf_counter()
    results = search(space=space, algorithm=args.search_algorithm, num_samples=args.search_trials, seed=0,
                     storage_path=storage, verbose=0)
    # a trial the scheduler stopped last reported an early validation loss: rank those trained to the end
    best, which = results.best(completed_only=True), "of the trials trained to the end"
    if best is None:
        best, which = results.best(), "(no trial trained to the end)"
    trials = results.trials()
    print(f"search: {len(trials)} trials ({int(trials['epochs'].sum())} epochs) in {time.perf_counter() - started:.1f} s; "
          f"best loss {which} {best['value']:.4f} with {best['config']}")
    report = search_report(results)
    if report["importance"] is not None:
        ranked = ", ".join(f"{row.parameter} {row.importance:.2f}" for row in report["importance"].itertuples())
        print(f"importance: {ranked}")
    print(f"experiment: {results.path}")
    print(f"search report: {report['index']}")


def _report(args: argparse.Namespace) -> int:
    target, rest = args.target[0], args.target[1:]
    if target == "compare":
        from trw_ray.reports.comparison import comparison_report, run_comparison_report

        if len(rest) < 2:
            raise ValueError("compare: give two or more run folders, or two or more experiments")
        _check_paths(rest)
        output = args.output or "compare_" + "_vs_".join(Path(run).name for run in rest)
        if all(layout.is_experiment_folder(path) for path in rest):
            table = comparison_report(rest, output)
            print(table.drop(columns=["path"]).to_string(index=False, float_format=lambda v: f"{v:.6g}"))
            print(f"comparison written to {Path(output).resolve() / 'index.html'}")
            return 0
        table = run_comparison_report(rest, output)
        if len(table):
            print(table.pivot_table(index=["dataset", "split", "output", "metric"], columns="run", values="value")
                  .to_string(float_format=lambda v: f"{v:.6g}"))
        print(f"comparison written to {Path(output).resolve() / 'index.html'}")
        return 0
    datasets = None
    if args.datasets:
        from trw_ray.hparams.space import import_function

        datasets = import_function(args.datasets, "--datasets")()
    if target == "errors":
        from trw_ray.reports.errors import error_report

        if len(rest) != 1:
            raise ValueError(f"errors: give one search experiment folder; got {len(rest)} paths")
        _check_paths(rest)
        if not layout.is_experiment_folder(rest[0]):
            raise ValueError(f"errors: {rest[0]!r} is not a search experiment (no trw_ray/search.json in it)")
        report = error_report(rest[0], args.output, split=args.split, datasets=datasets)
        for note in report["notes"]:
            print(f"note: {note}")
        if report["label_issues"] is not None:
            shown = report["label_issues"].groupby(["dataset", "split", "output"]).head(10)
            print(shown[["dataset", "split", "sample_uid", "label", "ensemble_label", "wrong_best_trials", "best_trials",
                         "wrong_trials", "trials", "log_margin", "rank"]].to_string(
                index=False, float_format=lambda v: f"{v:.3g}"))
        print(f"error report: {report['index']}")
        return 0
    if target == "run":
        if len(rest) != 1:
            raise ValueError(f"run: give one run folder; got {len(rest)} paths")
        _check_paths(rest)
        if not layout.is_run_folder(rest[0]):
            hint = " (a search experiment: use `trw-ray report EXPERIMENT`)" if layout.is_experiment_folder(rest[0]) else ""
            raise ValueError(f"run: {rest[0]!r} is not a run folder (no last.model.result in it){hint}")
        target = rest[0]
    elif rest:
        raise ValueError(f"one PATH expected; got {args.target}")
    _check_paths([target])
    path = Path(target)
    if layout.is_experiment_folder(path):
        from trw_ray.reports.search import search_report

        report = search_report(path, args.output, datasets=datasets)
        print(f"search report: {report['index']}")
        if report["errors"] is not None:
            print(f"error report: {report['errors']['index']}")
        from trw_ray.reports.architecture import architecture_report, is_architecture_search
        from trw_ray.results import load

        if is_architecture_search(load(path)):
            output = Path(args.output) / "architecture" if args.output else None
            print(f"architecture report: {architecture_report(path, output)['index']}")
        return 0
    if layout.is_run_folder(path):
        from trw_ray.reports.run import run_report

        print(f"report: {run_report(path)}")
        return 0
    raise ValueError(f"{str(path)!r} is neither a search experiment (trw_ray/search.json) nor a run folder "
                     "(last.model.result)")


def _check_paths(paths: list[str]) -> None:
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path!r} does not exist")


def _search(args: argparse.Namespace) -> int:
    import pandas as pd

    from trw_ray.hparams.space import load_space
    from trw_ray.hparams.tuning.driver import search
    from trw_ray.reports.search import search_report

    space = load_space(args.space)
    resources = dict(space.resources_per_trial or {"cpu": 1, "gpu": 0})
    if args.cpus_per_trial is not None:
        resources["cpu"] = args.cpus_per_trial
    if args.gpus_per_trial is not None:
        resources["gpu"] = args.gpus_per_trial
    resume = {"auto": "auto", "yes": True, "no": False}[args.resume]
    results = search(space=space, algorithm=args.algorithm, num_samples=args.num_samples, max_epochs=args.max_epochs,
                     resources_per_trial=resources, max_concurrent=args.max_concurrent,
                     storage_path=args.storage_path, name=args.name, seed=args.seed, resume=resume,
                     address=args.address, max_failures=args.max_failures, verbose=args.verbose,
                     scheduler=args.scheduler, max_total_epochs=args.max_total_epochs, tracking=args.tracking)
    trials = results.trials()
    column = f"last/{results.metric}"
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        shown = trials.drop(columns=["trial_dir", "run_dir", "error"], errors="ignore")
        if column in shown:
            shown = shown.sort_values(column, ascending=results.mode == "min")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    best = results.best()
    if best is not None:
        print(f"best trial {best['trial_id']}: {results.metric}={best['value']:.6g} config={best['config']}")
    print(f"experiment: {results.path}")
    if not args.no_report:
        print(f"search report: {search_report(results)['index']}")
        if args.tracking:  # the report joins the search's run (nothing else is logged twice)
            from trw_ray.tracking import create_tracker, export_experiment

            export_experiment(results.path, create_tracker(args.tracking))
    return 0


def _nas(args: argparse.Namespace) -> int:
    import pandas as pd

    from trw_ray.nas.spec import run_nas_spec

    resources = None
    if args.gpus_per_trial is not None or args.cpus_per_trial is not None:
        from trw_ray.nas.spec import load_nas_spec

        resources = dict(load_nas_spec(args.file).get("resources_per_trial") or {"cpu": 1, "gpu": 0})
        if args.cpus_per_trial is not None:
            resources["cpu"] = args.cpus_per_trial
        if args.gpus_per_trial is not None:
            resources["gpu"] = args.gpus_per_trial
    results = run_nas_spec(args.file, num_samples=args.num_samples, epochs=args.epochs, seed=args.seed,
                           retrain_top_k=args.retrain_top_k, storage_path=args.storage_path, name=args.name,
                           address=args.address, resources_per_trial=resources, verbose=args.verbose)
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_colwidth", 120):
        print(results.genotypes().to_string(index=False, float_format=lambda v: f"{v:.5g}"))
        if results.ranking is not None:
            print("\nretrained, best first:")
            print(results.ranking.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"experiment: {results.path}")
    if results.retrain is not None:
        print(f"retraining: {results.retrain.path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from trw_ray.tracking import create_tracker, export_experiment
    from trw_ray.tracking.export import experiment_dir_of

    path = experiment_dir_of(args.path)
    options = {"mlflow": {"tracking_uri": args.tracking_uri, "experiment_name": args.experiment_name},
               "wandb": {"project": args.project}}[args.tracker]
    done = export_experiment(path, create_tracker(args.tracker, **options))
    print(f"{args.tracker}: {done['trials']} trials ({done['results']} results) of {path} logged; what was logged "
          "before was kept, not repeated")
    return 0


def _results(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from trw_ray.results import load

    results = load(args.path)
    trials = results.trials()
    if args.json:
        print(json.dumps({"path": str(results.path), "settings": results.settings,
                          "trials": json.loads(trials.to_json(orient="records", double_precision=15)), "best": results.best()},
                         indent=1, default=str))
        return 0
    column = f"last/{results.metric}"
    if column in trials:
        trials = trials.sort_values(column, ascending=results.mode == "min")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(trials.drop(columns=["trial_dir", "run_dir"], errors="ignore").to_string(
            index=False, float_format=lambda v: f"{v:.5g}"))
    best = results.best()
    if best is not None:
        print(f"best trial {best['trial_id']}: {results.metric}={best['value']:.6g}")
    return 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _command(commands, name: str, summary: str, details: str = ""):
    return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + "." +
                               (f" {details}" if details else ""), formatter_class=_HelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trw-ray", description="Torch Research Workflows on Ray: train with full "
                                     "reports, search hyper-parameters and architectures, query and report results.")
    commands = parser.add_subparsers(dest="command", required=True)
    tour = _command(commands, "tour", "train the documentation's MNIST CNN with full reports, then search",
                    "Prints the run folder, its report and the test accuracy; then runs a small search and its report.")
    tour.add_argument("--epochs", type=int, default=3, help="training epochs")
    tour.add_argument("--max-train-samples", type=int, default=None, help="train on a random subset of this size")
    tour.add_argument("--batch-size", type=int, default=1000, help="samples per batch")
    tour.add_argument("--logging-directory", default=None,
                      help="where the run folder goes (default $TRW_RAY_LOGGING_ROOT or ~/trw_ray_logs)")
    tour.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    tour.add_argument("--augment", choices=["none", "map", "reservoir"], default="none",
                      help="augment the training split through SequenceMap or SequenceAsyncReservoir (Ray actors)")
    tour.add_argument("--workers", type=int, default=2, help="Ray actors of the augmentation pipeline")
    tour.add_argument("--search-trials", type=int, default=8,
                      help="then search search_spaces/mnist_cnn_tiny.yaml with this many trials (0: no search)")
    tour.add_argument("--search-algorithm", default="asha", help="algorithm of the tour's search")
    tour.set_defaults(handler=_tour)

    report = _command(commands, "report", "build reports of a search experiment or a run folder",
                      "`report PATH` (search experiment: search report, error report, architecture report; run folder: "
                      "its index.html), `report errors EXPERIMENT`, `report run RUN`, `report compare RUN RUN...` (or "
                      "EXPERIMENT EXPERIMENT...: their best-so-far curves on one plot).")
    report.add_argument("target", nargs="+", help="PATH, or `errors EXPERIMENT`, `compare RUN RUN...`, `run RUN`")
    report.add_argument("--split", default=None, help="errors: only this evaluated split")
    report.add_argument("--datasets", default=None,
                        help="module:function returning the trainable's datasets, to show the error report's samples "
                             "as images (e.g. trw_ray.datasets.mnist:create_mnist_dataset)")
    report.add_argument("--output", default=None,
                        help="output folder (search: default <experiment>/report; compare: ./compare_<A>_vs_<B>)")
    report.set_defaults(handler=_report)

    from trw_ray.hparams.searchers import algorithm_names, get_scheduler, scheduler_names

    combinable = [name for name in scheduler_names() if not get_scheduler(name).own_sampler]
    search = _command(commands, "search", "run a hyper-parameter search described by a space file (YAML)",
                      "Prints the trials best first, the best trial and the experiment folder; builds the search "
                      "report. Naming an existing experiment (--name) resumes it.")
    search.add_argument("space", help="a space file, e.g. search_spaces/mnist_cnn_tiny.yaml")
    search.add_argument("--algorithm", default=None,
                        help=f"one of {', '.join(algorithm_names())} (default: the file's, else random)")
    search.add_argument("--scheduler", default=None,
                        help=f"one of {', '.join(combinable)}, combined with --algorithm (default: the file's, else "
                             "fifo; for population based training use --algorithm pbt)")
    search.add_argument("--max-total-epochs", type=int, default=None,
                        help="total budget: no trial starts once all trials together trained this many epochs")
    search.add_argument("--num-samples", type=int, default=None, help="trials (default: the file's, else 40)")
    search.add_argument("--max-epochs", type=int, default=None, help="budget of one trial in epochs")
    search.add_argument("--cpus-per-trial", type=float, default=None, help="CPUs of one trial (default 1)")
    search.add_argument("--gpus-per-trial", type=float, default=None,
                        help="GPUs of one trial: 0.5 packs two trials per GPU (default 0)")
    search.add_argument("--max-concurrent", type=int, default=None, help="trials running at once")
    search.add_argument("--storage-path", default=None, help="default $TRW_RAY_LOGGING_ROOT/searches")
    search.add_argument("--name", default=None, help="experiment name; an existing one is resumed (see --resume)")
    search.add_argument("--seed", type=int, default=None,
                        help="seeds the algorithm and every trial: the same seed proposes the same configurations")
    search.add_argument("--resume", choices=["auto", "yes", "no"], default="auto",
                        help="auto: continue the experiment --name names if it exists; yes: it must exist; no: refuse "
                             "an existing name")
    search.add_argument("--address", default=None, help="Ray cluster address (default $RAY_ADDRESS, else local)")
    search.add_argument("--max-failures", type=int, default=0, help="retries of a failed trial")
    search.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                        help="0: silent; 1: a progress line every 10 s; 2: Ray Tune's own output")
    search.add_argument("--no-report", action="store_true", help="skip the importance report at the end")
    search.add_argument("--tracking", choices=["mlflow", "wandb"], default=None,
                        help="also log the search to MLflow ($MLFLOW_TRACKING_URI) or W&B (offline unless $WANDB_MODE)")
    search.set_defaults(handler=_search)

    nas = _command(commands, "nas", "run an architecture search described by a NAS file (YAML)",
                   "Prints the genotypes found (and, with retraining, their ranking) and the experiment folders.")
    nas.add_argument("file", help="a NAS file, e.g. search_spaces/nas_nb201_mnist_tiny.yaml")
    nas.add_argument("--num-samples", type=int, default=None, help="supernet trials (default: the file's)")
    nas.add_argument("--epochs", type=int, default=None, help="epochs of each supernet (default: the file's)")
    nas.add_argument("--seed", type=int, default=None, help="seeds the supernets and the retraining (default: the "
                                                            "file's)")
    nas.add_argument("--retrain-top-k", type=int, default=None, help="genotypes to retrain (default: the file's)")
    nas.add_argument("--cpus-per-trial", type=float, default=None, help="CPUs of one trial (default: the file's, "
                                                                        "else 1)")
    nas.add_argument("--gpus-per-trial", type=float, default=None,
                     help="GPUs of one trial: 0.5 packs two trials per GPU (default: the file's, else 0)")
    nas.add_argument("--storage-path", default=None, help="default $TRW_RAY_LOGGING_ROOT/searches")
    nas.add_argument("--name", default=None, help="experiment name (the retraining is <name>_retrain)")
    nas.add_argument("--address", default=None, help="Ray cluster address (default $RAY_ADDRESS, else local)")
    nas.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                     help="0: silent; 1: a progress line every 10 s; 2: Ray Tune's own output")
    nas.set_defaults(handler=_nas)

    export = _command(commands, "export", "log an experiment (finished or interrupted) to MLflow or W&B",
                      "Runs and epochs logged before (by a tracked search or an earlier export) are kept, not repeated.")
    export.add_argument("tracker", choices=["mlflow", "wandb"], help="where to log it")
    export.add_argument("path", help="the experiment folder")
    export.add_argument("--tracking-uri", default=None, help="mlflow: default $MLFLOW_TRACKING_URI")
    export.add_argument("--experiment-name", default=None, help="mlflow: default the search's name")
    export.add_argument("--project", default=None, help="wandb: default $WANDB_PROJECT, else trw_ray")
    export.set_defaults(handler=_export)

    results = _command(commands, "results", "print the trials of a search experiment, best first",
                       "Reads the experiment's record (no Ray needed), finished, interrupted or still running.")
    results.add_argument("path", help="the experiment folder")
    results.add_argument("--json", action="store_true", help="machine-readable output")
    results.set_defaults(handler=_results)
    return parser


def _flag_message(parser: argparse.ArgumentParser, command: str, message: str) -> str:
    """An error of the Python API that names an argument (``num_samples: ...``) names the command's flag instead
    (``--num-samples: ...``) when the command has one."""
    argument, separator, rest = message.partition(":")
    if not separator or not argument.isidentifier():
        return message
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    flag = "--" + argument.replace("_", "-")
    if flag in subparsers.choices[command]._option_string_actions:
        return f"{flag}:{rest}"
    return message


def main(argv: list[str] | None = None) -> int:
    """Runs one command; every mistake in what was asked (a bad flag value, a path that does not exist, a folder
    of the wrong kind) prints one line naming it and exits with 2, as argparse does for a bad flag."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, FileNotFoundError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"trw-ray {args.command}: error: {_flag_message(parser, args.command, str(message))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
