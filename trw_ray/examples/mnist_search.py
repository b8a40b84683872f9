"""The hyper-parameter search of TRW's documentation (section 1.3.3): ``create_net(hparams)`` and
``evaluate_hparams(hparams)``, used by ``search_spaces/mnist_cnn*.yaml`` and the tour."""

from __future__ import annotations

import trw_ray as trw


def create_net(hparams):
    """The documentation's network with two hyper-parameters, built with simple layers."""
    number_hidden = hparams.create("number_hidden", trw.hparams.DiscreteIntegrer(500, 100, 1000))
    number_conv1_channels = hparams.create("number_conv1_channels", trw.hparams.DiscreteIntegrer(16, 4, 64))

    n = trw.simple_layers.Input([None, 1, 28, 28], "images")
    n = trw.simple_layers.Conv2d(n, out_channels=number_conv1_channels, kernel_size=5, stride=2)
    n = trw.simple_layers.ReLU(n)
    n = trw.simple_layers.MaxPool2d(n, 2, 2)
    n = trw.simple_layers.Flatten(n)
    n = trw.simple_layers.Linear(n, number_hidden)
    n = trw.simple_layers.ReLU(n)
    n = trw.simple_layers.Linear(n, 10)
    n = trw.simple_layers.OutputClassification(n, output_name="softmax", classes_name="targets")
    return trw.simple_layers.compile_nn([n])


def evaluate_hparams(hparams, num_epochs: int = 5, max_train_samples: int | None = None,
                     max_eval_samples: int | None = None, batch_size: int = 1000, label_noise: dict | None = None,
                     callbacks_per_epoch_fn=None, dataset: str = "mnist"):
    """Trains the network with the trial's learning rate; returns the test loss and the history (as the seed).

    Only the epoch summary runs each epoch (and, as in every trial, the per-sample tables): a search does not need
    thousands of report files. ``label_noise`` (``{split: fraction}``) plants wrong labels (see
    :func:`trw_ray.datasets.mnist.create_mnist_dataset`). ``callbacks_per_epoch_fn`` adds per-epoch callbacks (a
    function returning a list; ``benchmarks/search_efficiency.py`` reports to Optuna's pruner with one).
    ``dataset``: ``'mnist'`` or ``'fashion_mnist'`` (the same network on Fashion-MNIST's 28x28 images).
    """
    datasets = {"mnist": trw.datasets.create_mnist_datasset, "fashion_mnist": trw.datasets.create_fashion_mnist_dataset}
    if dataset not in datasets:
        raise ValueError(f"dataset: expected one of {list(datasets)}; got {dataset!r}")
    learning_rate = hparams.create("learning_rate", trw.hparams.ContinuousUniform(0.1, 1e-5, 1.0))
    trainer = trw.train.Trainer(
        callbacks_per_epoch_fn=lambda: [trw.train.callback_epoch_summary.CallbackEpochSummary(),
                                        *(callbacks_per_epoch_fn() if callbacks_per_epoch_fn else [])],
        callbacks_post_training_fn=lambda: [trw.train.callback_best_history.CallbackBestHistory()])
    options = trw.train.create_default_options(num_epochs=num_epochs, progress_bar=False)
    options["workflow_options"]["console_log"] = False
    model, results = trainer.fit(
        options,
        inputs_fn=lambda: datasets[dataset](
            normalize_0_1=True, batch_size=batch_size, max_train_samples=max_train_samples,
            max_eval_samples=max_eval_samples, label_noise=label_noise),
        model_fn=lambda options: create_net(hparams),
        optimizers_fn=lambda datasets, model: trw.train.create_sgd_optimizers_fn(
            datasets=datasets, model=model, learning_rate=learning_rate),
        run_prefix="mnist_cnn")
    hparam_loss = trw.train.to_value(results["outputs"][dataset]["test"]["overall_loss"]["loss"])
    hparam_infos = results["history"]
    return hparam_loss, hparam_infos
