"""The supernet with the Trainer (no Ray): arch parameters apart, per-epoch records, the guard, reproducibility,
checkpoint resume, build_network reload and ONNX."""

import functools
import json

import pytest
import torch

import trw_ray as trw
from trw_ray import layout
from trw_ray.nas import ArchitectStep, CallbackArchitecture, CollapseGuard, Supernet, build_network, run_darts
from trw_ray.nas.darts import bilevel_split, darts_optimizers_fn
from trw_ray.train.tune_bridge import restore_trainer_state, trainer_state

TINY = {"max_train_samples": 200, "max_eval_samples": 100, "batch_size": 50}


def tiny_inputs():
    return bilevel_split(trw.nas.inputs.mnist_inputs(**TINY))


def test_architecture_parameters_are_kept_apart():
    net = Supernet("darts", width=4, depth=3, partial_channels=2)
    arch = {id(p) for p in net.arch_parameters()}
    assert len(net.arch_parameters()) == 4  # alphas and edge-normalisation betas of both cell types
    assert not arch & {id(p) for p in net.weight_parameters()}
    assert len(arch) + len(net.weight_parameters()) == len(list(net.parameters()))
    batch = {"images": torch.rand(2, 1, 28, 28), "targets": torch.tensor([1, 2])}
    net.eval()
    plain = net(batch)["softmax"].output
    net.set_aux_skip(1.0)
    assert not torch.allclose(plain, net(batch)["softmax"].output)
    with pytest.raises(ValueError, match="partial_channels"):
        Supernet("nb201", width=6, partial_channels=4)
    with pytest.raises(ValueError, match="even width"):
        Supernet("darts", width=5, depth=3)


def test_bilevel_split_halves_train_and_says_when_too_small():
    datasets = tiny_inputs()["mnist"]
    assert datasets["train"].num_samples == datasets["arch"].num_samples == 100
    assert not set(datasets["train"].split["sample_uid"]) & set(datasets["arch"].split["sample_uid"])
    small = trw.nas.inputs.mnist_inputs(max_train_samples=1, max_eval_samples=10)
    with pytest.raises(ValueError, match="too few to halve"):
        bilevel_split(small)
    with pytest.raises(ValueError, match="already has a split 'arch'"):
        bilevel_split(tiny_inputs())


def test_run_records_every_epoch_and_the_same_seed_gives_the_same_genotype(tmp_path):
    settings = {"width": 4, "arch_learning_rate": 3e-2, "aux_skip": 1.0}
    first = run_darts(trw.nas.inputs.mnist_inputs, epochs=2, seed=3, settings=settings, inputs_kwargs=TINY,
                      logging_directory=tmp_path / "a")
    again = run_darts(trw.nas.inputs.mnist_inputs, epochs=2, seed=3, settings=settings, inputs_kwargs=TINY,
                      logging_directory=tmp_path / "b")
    other = run_darts(trw.nas.inputs.mnist_inputs, epochs=2, seed=4, settings=settings, inputs_kwargs=TINY,
                      logging_directory=tmp_path / "c")
    assert first["genotype"] == again["genotype"] and first["epochs"] == 2
    records = [json.loads((tmp_path / run / "darts_r0" / "architecture" / "history.json").read_text())
               for run in ("a", "b", "c")]
    assert [e["epoch"] for e in records[0]["epochs"]] == [1, 2]
    assert records[0]["epochs"][-1]["weights"] == records[1]["epochs"][-1]["weights"]
    assert records[0]["epochs"][-1]["weights"] != records[2]["epochs"][-1]["weights"]
    assert other["run_dir"] != first["run_dir"]
    run = tmp_path / "a" / "darts_r0"
    for name in ("genotype.json", "weights_normal.png", "cell_normal.png"):
        assert (run / layout.ARCHITECTURE_FOLDER / name).is_file()
    assert "weights_normal.png" in (run / "index.html").read_text()
    step_metrics = json.loads((run / layout.RESULT_FILE).read_text())["history"][-1]["mnist"]["train"]["step"]
    assert {"arch_loss", "arch_entropy", "aux_skip"} <= set(step_metrics)
    assert step_metrics["aux_skip"] == 0.0  # DARTS-: decayed to 0 at the last epoch


def skip_favoured_supernet(options):
    net = Supernet("nb201", width=4, depth=1)
    with torch.no_grad():
        net.alphas["normal"][:, net.space.ops.index("skip_connect")] = 5.0
    return net


def fit_supernet(tmp_path, guard, num_epochs=3, pre_training=None, arch_learning_rate=0.0):
    options = trw.train.create_default_options(num_epochs=num_epochs, logging_directory=tmp_path, progress_bar=False)
    options["workflow_options"]["console_log"] = False
    record = CallbackArchitecture(guard)
    trainer = trw.train.Trainer(
        callbacks_pre_training_fn=lambda: list(pre_training or []),
        callbacks_per_epoch_fn=lambda: [record], callbacks_post_training_fn=lambda: [],
        step_fn=functools.partial(ArchitectStep, arch_learning_rate=arch_learning_rate))
    trainer.fit(options, inputs_fn=tiny_inputs, model_fn=skip_favoured_supernet,
                optimizers_fn=functools.partial(darts_optimizers_fn, num_epochs=num_epochs))
    return trainer._context


def test_the_guard_stops_a_run_whose_weights_favour_skip(tmp_path):
    context = fit_supernet(tmp_path / "guarded", CollapseGuard("nb201"))
    assert context.epoch == 1 and "collapse guard" in context.stop_reason
    chosen = context.extra["architecture"]
    assert chosen["guard_stopped"] and chosen["collapsed"] and chosen["parameter_free"] == 6
    result = json.loads((context.run_dir / layout.RESULT_FILE).read_text())
    assert result["status"] == "completed" and "collapse guard" in result["stopped_early"]
    unguarded = fit_supernet(tmp_path / "off", CollapseGuard("nb201", enabled=False))
    assert unguarded.epoch == 3 and unguarded.stop_reason is None
    assert unguarded.extra["architecture"]["collapsed"] and not unguarded.extra["architecture"]["guard_stopped"]


def test_a_supernet_checkpoint_resumes_its_architecture(tmp_path):
    first = fit_supernet(tmp_path / "first", None, num_epochs=2, arch_learning_rate=0.05)
    state = trainer_state(first)
    saved_alphas = first.model.alphas["normal"].detach().clone()
    assert state["step"]["arch_optimizer"]["state"]  # Adam's moments of the architecture parameters
    seen = {}

    class Resume(trw.train.callbacks.Callback):
        def __call__(self, context):
            restore_trainer_state(context, state)
            seen["alphas"] = context.model.alphas["normal"].detach().clone()
            seen["adam_steps"] = int(context.step.optimizer.state_dict()["state"][0]["step"])

    resumed = fit_supernet(tmp_path / "resumed", None, num_epochs=3, pre_training=[Resume()], arch_learning_rate=0.05)
    assert torch.equal(seen["alphas"], saved_alphas)
    assert seen["adam_steps"] == 2 * 2  # two epochs of two architecture batches each
    history = json.loads((resumed.run_dir / layout.ARCHITECTURE_FOLDER / "history.json").read_text())["epochs"]
    assert [entry["epoch"] for entry in history] == [1, 2, 3]  # the first run's records came with the checkpoint
    assert resumed.epoch == 3


def test_build_network_reloads_and_exports_to_onnx(tmp_path):
    genotype = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    options = trw.train.create_default_options(num_epochs=1, logging_directory=tmp_path, progress_bar=False)
    options["workflow_options"]["console_log"] = False
    trainer = trw.train.Trainer(callbacks_per_epoch_fn=lambda: [],
                                callbacks_post_training_fn=lambda: [trw.train.callbacks.CallbackExportOnnx(strict=True)])
    model, results = trainer.fit(options, inputs_fn=lambda: trw.nas.inputs.mnist_inputs(**TINY),
                                 model_fn=lambda o: build_network(genotype, width=4, depth=1),
                                 optimizers_fn=lambda d, m: trw.train.create_sgd_optimizers_fn(d, m, 0.05))
    reloaded, metadata = trw.train.load_model(tmp_path / "default_r0" / layout.MODEL_FILE)
    assert str(reloaded.genotype) == genotype and metadata["model_description"]["kind"] == "network"
    batch = {"images": torch.rand(3, 1, 28, 28), "targets": torch.zeros(3, dtype=torch.int64)}
    model.eval()
    reloaded.eval()
    assert torch.allclose(model(batch)["softmax"].output, reloaded(batch)["softmax"].output)
    assert (tmp_path / "default_r0" / layout.ONNX_FILE).is_file()
    assert results["onnx"]["max_abs_difference"] < 1e-4
    with pytest.raises(ValueError, match="not an op of the 'nb201' space"):
        build_network(genotype.replace("nor_conv_1x1", "conv_1x1"))


@pytest.mark.gpu
def test_a_supernet_step_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    options = trw.train.create_default_options(num_epochs=1, device="cuda", progress_bar=False)
    options["workflow_options"]["console_log"] = False
    trainer = trw.train.Trainer(callbacks_per_epoch_fn=lambda: [CallbackArchitecture(CollapseGuard("nb201"))],
                                callbacks_post_training_fn=lambda: [],
                                step_fn=functools.partial(ArchitectStep, order="second"))
    model, results = trainer.fit(options, inputs_fn=tiny_inputs, model_fn=lambda o: Supernet("nb201", width=8),
                                 optimizers_fn=functools.partial(darts_optimizers_fn, num_epochs=1))
    assert next(model.parameters()).is_cuda
    assert results["history"][0]["mnist"]["train"]["step"]["arch_loss"] > 0
