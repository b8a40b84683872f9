"""``trw-ray``: the command line. Parsing only; every command delegates to the Python API."""

from __future__ import annotations

import argparse
import sys


def _tour(args: argparse.Namespace) -> int:
    from trw_ray.examples.mnist_tour import run_training

    print(f"trw_ray tour: training the MNIST CNN for {args.epochs} epoch(s)"
          + (f" on {args.max_train_samples} training samples" if args.max_train_samples else "") + " ...", flush=True)
    summary = run_training(num_epochs=args.epochs, max_train_samples=args.max_train_samples, batch_size=args.batch_size,
                           logging_directory=args.logging_directory, device=args.device)
    print(f"run folder: {summary['run_dir']}")
    print(f"test accuracy: {summary['test_accuracy']:.4f} ({summary['seconds']:.1f} s)")
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
    tour.set_defaults(handler=_tour)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
