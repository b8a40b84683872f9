"""Architecture searches declared in YAML (``search_spaces/nas_*.yaml``), run by ``trw-ray nas FILE``.

Keys (anything else is an error naming the file, the key and the allowed keys)::

    description: free text
    method: darts                       # the only method for now
    inputs: trw_ray.nas.inputs:fashion_mnist_inputs   # module:function returning the datasets
    inputs_kwargs: {max_train_samples: 10000}         # its arguments
    space: nb201                        # nb201 or darts
    num_samples: 5                      # supernet trials (seeds seed, seed + 1, ...)
    epochs: 10                          # epochs of each supernet
    seed: 0
    settings:                           # DEFAULT_SETTINGS overrides: a value, or a spec {type: ...} to search it
      width: 8
      arch_learning_rate: {type: ContinuousPower, default: 0.0003, exponent_min: -4, exponent_max: -2}
    guard: true                         # the collapse guard (and max_parameter_free, guard_start_epoch)
    retrain_top_k: 3                    # retrain the best derived genotypes (0: none)
    retrain_seeds: 3
    retrain_epochs: 10
    retrain_settings: {width: 16}
    resources_per_trial: {cpu: 1, gpu: 0}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

KEYS = ("description", "method", "inputs", "inputs_kwargs", "space", "num_samples", "epochs", "seed", "settings",
        "guard", "max_parameter_free", "guard_start_epoch", "retrain_top_k", "retrain_seeds", "retrain_epochs",
        "retrain_settings", "resources_per_trial")
METHODS = ("darts",)

__all__ = ["load_nas_spec", "run_nas_spec"]


def load_nas_spec(path: str | os.PathLike) -> dict[str, Any]:
    """The :func:`~trw_ray.nas.darts.darts_search` arguments a YAML file declares (specs become Params)."""
    from trw_ray.hparams.space import read_yaml
    from trw_ray.hparams.space.params import param_from_dict

    path = Path(path)
    data = read_yaml(path, "NAS file")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of keys {list(KEYS)}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {list(KEYS)}")
    method = data.pop("method", "darts")
    if method not in METHODS:
        raise ValueError(f"{path}: 'method' must be one of {list(METHODS)}; got {method!r}")
    if "inputs" not in data:
        raise ValueError(f"{path}: 'inputs' (module:function returning the datasets) is required")
    data.pop("description", None)
    data["inputs_fn"] = data.pop("inputs")
    for key in ("settings", "retrain_settings"):
        settings = data.get(key)
        if settings is None:
            continue
        if not isinstance(settings, dict):
            raise ValueError(f"{path}: {key!r} must be a mapping; got {settings!r}")
        data[key] = {name: param_from_dict(value, f"{path}: {key}.{name}") if isinstance(value, dict) else value
                     for name, value in settings.items()}
    return data


def run_nas_spec(path: str | os.PathLike, **overrides: Any):
    """Runs the search a file declares (``overrides``: any :func:`~trw_ray.nas.darts.darts_search` argument)."""
    from trw_ray.nas.darts import darts_search

    arguments = load_nas_spec(path)
    arguments.update({name: value for name, value in overrides.items() if value is not None})
    return darts_search(**arguments)
