"""Shared fixtures. Tests of pure logic never start Ray; ``ray_local`` starts one local Ray per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")  # as trw_ray.ray_session.ensure_ray sets it


@pytest.fixture(autouse=True)
def _isolated_logging_root(tmp_path, monkeypatch):
    """Run folders of every test go to the test's own temporary directory."""
    monkeypatch.setenv("TRW_RAY_LOGGING_ROOT", str(tmp_path / "logs"))
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def ray_local():
    """One embedded local Ray for the whole session (2 CPUs, no dashboard), stopped at the end."""
    ray = pytest.importorskip("ray")
    # functions defined in test modules are pickled by reference: the workers must import them too
    tests_root = Path(__file__).resolve().parent
    folders = [str(tests_root), *(str(p) for p in tests_root.iterdir() if p.is_dir() and not p.name.startswith("_"))]
    os.environ["PYTHONPATH"] = os.pathsep.join([*folders, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    started = False
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, object_store_memory=256 * 1024 * 1024)
        started = True
    yield ray
    if started:
        ray.shutdown()


def make_blobs(num_samples: int = 200, num_features: int = 4, num_classes: int = 3, seed: int = 0):
    """Separable gaussian blobs: ``{'x': float32 (N, F), 'y': int64 (N,)}``; the centers do not depend on seed."""
    centers = np.random.default_rng(1234).normal(scale=4.0, size=(num_classes, num_features))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, size=num_samples)
    x = centers[y] + rng.normal(size=(num_samples, num_features))
    return {"x": x.astype(np.float32), "y": y.astype(np.int64)}


def chromium_path() -> str | None:
    """A headless Chromium to render report pages with, or None."""
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    for path in ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium"):
        if Path(path).is_file():
            return path
    return None
