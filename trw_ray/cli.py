"""``trw-ray``: the command line. Parsing only; every command delegates to the Python API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    return 0


def _report_compare(args: argparse.Namespace) -> int:
    from trw_ray.reports.compare import compare_runs

    output = args.output or "compare_" + "_vs_".join(Path(run).name for run in args.runs)
    table = compare_runs(args.runs, output)
    if len(table):
        print(table.pivot_table(index=["dataset", "split", "output", "metric"], columns="run", values="value")
              .to_string(float_format=lambda v: f"{v:.6g}"))
    print(f"comparison written to {Path(output).resolve() / 'index.html'}")
    return 0


def _report_run(args: argparse.Namespace) -> int:
    from trw_ray.reports.html import build_run_index

    print(f"report: {build_run_index(args.path)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trw-ray", description="Torch Research Workflows on Ray")
    commands = parser.add_subparsers(dest="command", required=True)
    tour = commands.add_parser("tour", help="train the documentation's MNIST CNN with full reports")
    tour.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    tour.add_argument("--max-train-samples", type=int, default=None, help="train on a random subset of this size")
    tour.add_argument("--batch-size", type=int, default=1000, help="samples per batch (default 1000)")
    tour.add_argument("--logging-directory", default=None,
                      help="where the run folder goes (default $TRW_RAY_LOGGING_ROOT or ~/trw_ray_logs)")
    tour.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    tour.add_argument("--augment", choices=["none", "map", "reservoir"], default="none",
                      help="augment the training split through SequenceMap or SequenceAsyncReservoir (Ray actors)")
    tour.add_argument("--workers", type=int, default=2, help="Ray actors of the augmentation pipeline (default 2)")
    tour.set_defaults(handler=_tour)

    report = commands.add_parser("report", help="build reports from run folders")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    compare = report_commands.add_parser("compare", help="overlay the histories of runs and tabulate final metrics")
    compare.add_argument("runs", nargs="+", help="two or more run folders (<logging_directory>/<prefix>_rN)")
    compare.add_argument("--output", default=None, help="output folder (default ./compare_<A>_vs_<B>)")
    compare.set_defaults(handler=_report_compare)
    run = report_commands.add_parser("run", help="(re)build a run folder's index.html")
    run.add_argument("path", help="the run folder")
    run.set_defaults(handler=_report_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
