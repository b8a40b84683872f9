"""Evolution over cells, then the best cells retrained with several seeds and ranked with uncertainty.

    python examples/evolution_and_ranking.py            # 24 cells trained on Fashion-MNIST, the top 5 retrained
    python examples/evolution_and_ranking.py --smoke    # 12 cells looked up in the NAS-Bench-201 table, top 2 retrained

A cell space is a search space: evolution (with a surrogate choosing each mutation) proposes cells, each a Tune
trial; ``evaluator='table'`` reads the NAS-Bench-201 table instead of training (``pip install 'trw-ray[nas]'``).
The ranking retrains the top cells from scratch and gives each a 95% interval and its probability of being best.
"""

import argparse

import trw_ray as trw

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny data: checks the example runs")
args = parser.parse_args()

if args.smoke:
    results = trw.nas.evolution_search(evaluator="table", table_dataset="cifar10", num_samples=12, seed=0, verbose=0)
    retrain = {"inputs_fn": "trw_ray.nas.inputs:mnist_inputs", "epochs": 1, "settings": {"width": 4},
               "inputs_kwargs": {"max_train_samples": 200, "max_eval_samples": 100, "batch_size": 50}}
    top_k, seeds = 2, 1
else:
    results = trw.nas.evolution_search("trw_ray.nas.inputs:fashion_mnist_inputs", num_samples=24, epochs=2, seed=0,
                                       max_parameters=60_000, settings={"width": 8}, verbose=0)
    retrain, top_k, seeds = {"inputs_fn": "trw_ray.nas.inputs:fashion_mnist_inputs", "settings": {"width": 8}}, 5, 3

print(results.architectures()[["rank", "genotype", "mean"]].head(5).to_string(index=False))  # best cells first
ranking = trw.nas.rank_architectures(results, top_k=top_k, seeds=seeds, verbose=0, **retrain)
print(ranking.table[["rank", "genotype", "mean", "ci_low", "ci_high", "p_best"]].to_string(index=False))
