"""The simple layers need only torch: importing them loads neither the Trainer, the pipelines nor Ray."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_of_the_layers_loads_no_trainer_no_pipeline_and_no_ray():
    code = ("import json, sys; import trw_ray.layers as sl; n = sl.OutputClassification(sl.Linear(sl.Input([None, 4], 'x'), 3), "
            "'softmax', 'y'); sl.compile_nn([n]); print(json.dumps(sorted(m for m in sys.modules "
            "if m.startswith(('trw_ray', 'ray')))))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(output.stdout.strip().splitlines()[-1])
    assert "trw_ray.layers.compiled" in loaded and "trw_ray.outputs" in loaded
    for module in ("trw_ray.train.trainer", "trw_ray.train.callbacks", "trw_ray.data", "ray"):
        assert module not in loaded, f"import trw_ray.layers loaded {module}"


def test_model_io_rebuilds_a_compiled_net_loading_the_layers_only_then():
    code = ("import json, sys; import trw_ray.train.model_io as io; "
            "print(json.dumps('trw_ray.layers' in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(output.stdout.strip().splitlines()[-1]) is False
