"""A trial's resources as placement-group bundles, checked by name (no Ray)."""

from __future__ import annotations

import pytest

from trw_ray.hparams.tuning.resources import trial_resources


def test_bundles_of_a_trial_and_its_pipeline_workers():
    assert trial_resources(None) == ([{"CPU": 1.0}], 1.0)
    bundles, cpus = trial_resources({"cpu": 2, "gpu": 0.5, "pipeline_workers": 2, "cpus_per_pipeline_worker": 0.5})
    assert bundles == [{"CPU": 2.0, "GPU": 0.5}, {"CPU": 0.5}, {"CPU": 0.5}] and cpus == 2.0


@pytest.mark.parametrize("resources, error, message", [
    ([1], TypeError, "resources_per_trial: expected a dict"),
    ({"cpus": 1}, ValueError, "unknown key(s) ['cpus']"),
    ({"cpu": -1}, ValueError, "resources_per_trial: 'cpu': expected a number >= 0; got -1"),
    ({"gpu": 1.5}, ValueError, "'gpu' above 1 must be a whole number"),
    ({"cpu": 0}, ValueError, "needs some 'cpu' or 'gpu'"),
    ({"pipeline_workers": 1.5}, ValueError, "'pipeline_workers': expected an integer >= 0; got 1.5"),
])
def test_bad_requests_name_what_is_wrong(resources, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        trial_resources(resources)
