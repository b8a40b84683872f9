"""A Trainer run's folder and its log: ``<logging_directory>/<run_prefix>_rN`` (the names inside:
:mod:`trw_ray.layout`), created by the Trainer or, for a data-parallel fit, by its launcher."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from trw_ray import layout

__all__ = ["create_run_directory", "create_run_logger"]


def create_run_directory(logging_directory: str | Path, run_prefix: str) -> Path:
    """Creates ``<logging_directory>/<run_prefix>_rN`` with the first free N; never reuses a folder."""
    if not isinstance(run_prefix, str) or not run_prefix or "/" in run_prefix or "\\" in run_prefix:
        raise ValueError(f"run_prefix: expected a non-empty name without path separators; got {run_prefix!r}")
    root = Path(logging_directory).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    index = 0
    while True:
        candidate = root / f"{run_prefix}_r{index}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            index += 1


def create_run_logger(run_dir: Path, console: bool) -> logging.Logger:
    """The run's logger: everything into ``trainer.txt``, INFO and above to stderr when ``console``."""
    logger = logging.getLogger(f"trw_ray.trainer.{run_dir}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    file_handler = logging.FileHandler(run_dir / layout.TRAINER_LOG, encoding="utf-8")
    file_handler.setFormatter(formatter)
    logger.addHandler(file_handler)
    if console:
        console_handler = logging.StreamHandler(sys.stderr)
        console_handler.setLevel(logging.INFO)
        console_handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console_handler)
    return logger


def close_run_logger(logger: logging.Logger) -> None:
    """Closes the handlers :func:`create_run_logger` opened (the run's ``trainer.txt`` among them)."""
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
