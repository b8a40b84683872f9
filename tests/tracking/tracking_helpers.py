"""Helpers of the tracking tests: an MLflow server on loopback, a reader of W&B's offline run files, TensorBoard
sessions read back, and the trial functions the searches run."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import trw_ray as trw
from trw_ray.hparams import ContinuousUniform


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def mlflow_server(folder: Path, port: int | None = None):
    """``mlflow server`` with a SQLite store and a local artifact folder on 127.0.0.1; yields ``(uri, process)``;
    ended by its pid (its process group)."""
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]
    log = open(folder / "server.log", "ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield uri, process
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def epochs_loop(hparams):
    """Reports ``accuracy`` and ``loss`` each of its epochs (4 by default), resuming from its checkpoint."""
    x = hparams.create("x", ContinuousUniform(0.5, -1.0, 1.0))
    state = trw.hparams.resume_state()
    first = 0 if state is None else state["epoch"]
    for epoch in range(first, trw.hparams.trial_epochs(default=4)):
        time.sleep(float(os.environ.get("TRW_RAY_TEST_EPOCH_S", "0")))
        trw.hparams.report({"accuracy": 1.0 - x * x / (epoch + 1), "loss": x * x / (epoch + 1)},
                           state={"epoch": epoch + 1})
    return {"loss": x * x / 4}


def run_tracked_driver(storage: str, name: str, uri: str) -> None:
    """A tracked search of slow trials, one at a time: the test kills this driver midway."""
    os.environ["TRW_RAY_TEST_EPOCH_S"] = "0.5"
    from trw_ray.tracking.mlflow_tracker import MLflowTracker

    trw.hparams.search(epochs_loop, space={"x": ContinuousUniform(0.5, -1.0, 1.0)}, num_samples=4, max_concurrent=1,
                       seed=0, storage_path=storage, name=name, verbose=0,
                       tracking=MLflowTracker(uri, experiment_name=name))


# ------------------------------------------------------------------------------------- W&B's offline run files

BLOCK = 32768
HEADER = struct.Struct("<4sHB")  # ":W&B", magic 0xBEE1, version 0
RECORD = struct.Struct("<IHB")  # crc32, length, type (1 full, 2 first, 3 middle, 4 last)


def wandb_records(path: Path):
    """The protobuf records of a ``run-<id>.wandb`` file (W&B's LevelDB-log framing), parsed."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    ident, magic, _ = HEADER.unpack_from(data, 0)
    assert ident == b":W&B" and magic == 0xBEE1, (ident, magic)
    position, pieces = HEADER.size, []
    while position + RECORD.size <= len(data):
        if BLOCK - position % BLOCK < RECORD.size:  # the block's tail is padding
            position += BLOCK - position % BLOCK
            continue
        _, length, kind = RECORD.unpack_from(data, position)
        position += RECORD.size
        if kind == 0 and length == 0:
            break
        pieces.append(data[position:position + length])
        position += length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(pieces))
            pieces = []
            yield record


def wandb_run(folder: Path) -> dict:
    """``{'config': {...}, 'history': [{...}, ...], 'summary': {...}, 'run_id': ...}`` of one offline run folder."""
    import json

    [path] = Path(folder).glob("run-*.wandb")
    run = {"config": {}, "history": [], "summary": {}, "run_id": None}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["run_id"] = record.run.run_id
            run["config"].update({item.key: json.loads(item.value_json) for item in record.run.config.update})
            run["job_type"], run["group"] = record.run.job_type, record.run.run_group
        elif kind == "config":
            run["config"].update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "history":
            run["history"].append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                   for item in record.history.item})
        elif kind == "summary":
            run["summary"].update({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                   for item in record.summary.update})
    return run


# ------------------------------------------------------------------------------------- TensorBoard sessions

def tensorboard_sessions(folder: Path) -> dict[str, dict]:
    """Per trial folder under ``<experiment>/tensorboard``: its HParams session (``hparams``, ``status`` name) and its
    scalars ``{tag: {step: value}}``, read with TensorBoard's own event loader and plugin parsers."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import api_pb2, metadata

    sessions = {}
    for trial in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        session = {"hparams": None, "status": None, "scalars": {}}
        for events in sorted(trial.glob("events.out.tfevents.*")):
            for event in EventFileLoader(str(events)).Load():
                for value in event.summary.value:
                    plugin = value.metadata.plugin_data
                    if plugin.plugin_name == metadata.PLUGIN_NAME:
                        if value.tag == metadata.SESSION_START_INFO_TAG:
                            start = metadata.parse_session_start_info_plugin_data(plugin.content)
                            session["hparams"] = {key: getattr(v, v.WhichOneof("kind"))
                                                  for key, v in start.hparams.items()}
                        elif value.tag == metadata.SESSION_END_INFO_TAG:
                            end = metadata.parse_session_end_info_plugin_data(plugin.content)
                            session["status"] = api_pb2.Status.Name(end.status)
                    elif value.HasField("simple_value") or value.HasField("tensor"):
                        number = value.simple_value if value.HasField("simple_value") else \
                            value.tensor.float_val[0]
                        session["scalars"].setdefault(value.tag, {})[event.step] = number
        sessions[trial.name] = session
    return sessions
