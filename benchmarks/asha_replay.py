"""Replays Ray Tune's ASHA on the learning curves of random searches, for many settings at no training cost.

Why: part (a) of `search_efficiency.py` asks ASHA for random search's best loss (within 1%) at a third of its
epochs. One real ASHA run per setting and seed costs minutes; a replay costs milliseconds. Training here is
deterministic (each trial's seed comes from its configuration), so a trial that ASHA lets run k epochs reports
exactly the first k values of the curve the same configuration reported in the random search. The replay feeds
those values to Tune's own bracket bookkeeping (`ray.tune.schedulers.async_hyperband._Bracket`), two trials at
a time in the searcher's order as on the 2-CPU machine, with each epoch's duration drawn at random (+-50%) since
the order in which results arrive decides ASHA's cut-offs; each setting is replayed with 5 duration and bracket
draws per seed.

The best loss counts only trials trained to the full budget (the test loss their function returned), as in
`search_efficiency.py`.

    python benchmarks/asha_replay.py --seeds 0,1,2,3 [--storage DIR]   # runs the random searches it lacks
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import trw_ray as trw  # noqa: E402

SPACE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "search_spaces", "mnist_cnn_tiny.yaml")


class _Trial:
    def __init__(self, index: int):
        self.trial_id = str(index)


def random_search_curves(seed: int, trials: int, epochs: int, storage: str) -> list[np.ndarray]:
    """Per trial, in the searcher's order, the metric of every epoch (the last one is the returned test loss)."""
    path = os.path.join(storage, f"mnist_random_{seed}")
    if not os.path.isdir(path):
        trw.hparams.search(space=SPACE, algorithm="random", num_samples=trials, max_epochs=epochs, seed=seed,
                           storage_path=storage, name=f"mnist_random_{seed}", verbose=0)
    results = trw.results.load(path)
    history = results.history()
    curves = []
    for trial_id in results.trials()["trial_id"]:
        rows = history[history["trial_id"] == trial_id].sort_values("training_iteration")
        curves.append(rows[results.metric].to_numpy(dtype=float))
    if any(len(curve) != epochs for curve in curves):
        raise ValueError(f"--storage: {path!r} holds trials of other lengths than {epochs} epochs")
    return curves


def replay_asha(curves: list[np.ndarray], grace_period: int, reduction_factor: int, brackets: int,
                draw: int, concurrent: int = 2) -> tuple[float, int, int]:
    """(best returned loss of a trial trained to the end, epochs consumed, trials trained to the end)."""
    from ray.tune.schedulers.async_hyperband import _Bracket

    max_t = len(curves[0])
    rng = np.random.RandomState(draw)
    bracket_list = [_Bracket(grace_period, max_t, reduction_factor, s) for s in range(brackets)]
    sizes = np.array([len(bracket._rungs) for bracket in bracket_list])
    weights = np.e ** (sizes - sizes.max())  # Tune's draw of a trial's bracket
    assigned = [bracket_list[rng.choice(brackets, p=weights / weights.sum())] for _ in curves]
    events: list[tuple[float, int, int]] = []
    epochs_run = [0] * len(curves)
    started = 0
    for _ in range(min(concurrent, len(curves))):
        heapq.heappush(events, (rng.uniform(0.5, 1.5), started, 1))
        started += 1
    while events:
        now, index, epoch = heapq.heappop(events)
        epochs_run[index] = epoch
        stop = epoch >= max_t or assigned[index].on_result(_Trial(index), epoch, -curves[index][epoch - 1]) == "STOP"
        if not stop:
            heapq.heappush(events, (now + rng.uniform(0.5, 1.5), index, epoch + 1))
        elif started < len(curves):
            heapq.heappush(events, (now + rng.uniform(0.5, 1.5), started, 1))
            started += 1
    finished = [curve[-1] for curve, run in zip(curves, epochs_run, strict=True) if run == max_t]
    return min(finished), sum(epochs_run), len(finished)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--trials", type=int, default=49)
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--draws", type=int, default=5, help="replays per setting and seed")
    parser.add_argument("--storage", default=os.path.join(os.path.expanduser("~"), "trw_ray_asha_replay"),
                        help="random searches are kept (and reused) here")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    curves = {seed: random_search_curves(seed, args.trials, args.epochs, args.storage) for seed in seeds}
    for seed, seed_curves in curves.items():
        finals = np.array([curve[-1] for curve in seed_curves])
        best = int(np.argmin(finals))
        ranks = [1 + int(np.sum(np.array([c[epoch - 1] for c in seed_curves]) < seed_curves[best][epoch - 1]))
                 for epoch in (1, 3, 9)]
        print(f"seed {seed}: random search best {finals[best]:.4f} ({args.trials * args.epochs} epochs); that "
              f"configuration ranks {ranks[0]}, {ranks[1]} and {ranks[2]} of {args.trials} after 1, 3 and 9 epochs")
    print("\nASHA setting (grace, reduction, brackets): mean loss / random's best, mean epochs / random's, "
          "share of replays within 1% and under 1/3 of the epochs")
    for grace, reduction, brackets in itertools.product((1, 2, 3), (2, 3, 4), (1, 2, 3, 4)):
        ratios, fractions = [], []
        for seed_curves in curves.values():
            random_best = min(curve[-1] for curve in seed_curves)
            for draw in range(args.draws):
                best, consumed, _ = replay_asha(seed_curves, grace, reduction, brackets, draw)
                ratios.append(best / random_best)
                fractions.append(consumed / (len(seed_curves) * args.epochs))
        ratios, fractions = np.array(ratios), np.array(fractions)
        met = np.mean((ratios <= 1.01) & (fractions <= 1 / 3))
        print(f"  {grace} {reduction} {brackets}: loss {ratios.mean():.3f}x (worst {ratios.max():.3f}x), epochs "
              f"{fractions.mean():.3f}x, goal met in {met * 100:.0f}% of replays")


if __name__ == "__main__":
    main()
