"""DARTS: supernets trained as Ray Tune trials, their derived cells retrained from scratch and ranked.

    python examples/darts_search.py              # 5 supernets (NB-201 cell, width 8) on Fashion-MNIST, 3 retrained
    python examples/darts_search.py --smoke      # 2 supernets of width 4 for 1 epoch on 200 MNIST images

Each supernet trains with the Trainer and the architect step (bilevel, first order by default) in its own trial,
with seed ``seed + i``; the collapse guard stops a supernet whose cell fills with skips or poolings.
"""

import argparse

import trw_ray as trw

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny data: checks the example runs")
args = parser.parse_args()

if args.smoke:
    inputs, inputs_kwargs = "trw_ray.nas.inputs:mnist_inputs", {"max_train_samples": 200, "max_eval_samples": 100,
                                                                "batch_size": 50}
    sizes = {"num_samples": 2, "epochs": 1, "settings": {"width": 4}, "retrain_top_k": 1, "retrain_seeds": 1,
             "retrain_epochs": 1, "retrain_settings": {"width": 4}}
else:
    inputs, inputs_kwargs = "trw_ray.nas.inputs:fashion_mnist_inputs", None
    sizes = {"num_samples": 5, "epochs": 10, "settings": {"width": 8}, "retrain_top_k": 3, "retrain_seeds": 3}
results = trw.nas.darts_search(inputs, space="nb201", seed=0, inputs_kwargs=inputs_kwargs, verbose=0, **sizes)

print(results.genotypes()[["config/seed", "result/genotype", "result/collapsed"]].to_string(index=False))  # one per supernet
print(results.ranking[["genotype", "accuracy_mean", "accuracy_std"]].to_string(index=False))  # retrained, best first
