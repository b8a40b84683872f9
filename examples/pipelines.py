"""Feed a training from Ray workers: the same augmentation in RAM, in a pool of Ray actors (``map``) and through an
async reservoir refilled in the background (TRW documentation, section 1.5).

    python examples/pipelines.py             # 10,000 MNIST images, 2 epochs per pipeline
    python examples/pipelines.py --smoke     # 1,000 images, 1 epoch

No ``ray.init()``: the first epoch of a pipeline starts an embedded local Ray (or joins ``$RAY_ADDRESS``).
"""

import argparse
import time

import trw_ray as trw
from trw_ray.data.transforms import Compose, RandomCropPad, RandomFlip, TransformBatch

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny data: checks the example runs")
args = parser.parse_args()
samples, epochs = (1000, 1) if args.smoke else (10000, 2)

split = trw.datasets.create_mnist_dataset(max_train_samples=samples)["mnist"]["train"].split   # {feature: array}
augment = TransformBatch(Compose([RandomCropPad(2), RandomFlip()]), seed=0)   # per batch; seeded per sample

pipelines = {
    "in RAM, no Ray": trw.train.SequenceArray(split, batch_size=64).map(augment, nb_workers=0),
    "map, 2 Ray actors": trw.train.SequenceArray(split, batch_size=64).map(augment, nb_workers=2),
    "async reservoir": trw.train.SequenceArray(split, batch_size=64).async_reservoir(
        max_reservoir_samples=samples, function_to_run=augment, min_reservoir_samples=samples // 2, nb_workers=2),
}
for name, pipeline in pipelines.items():
    started, seen = time.perf_counter(), 0
    for _ in range(epochs):
        for batch in pipeline:                       # a dict of tensors: images, targets, sample_uid
            seen += len(batch["sample_uid"])
    pipeline.close()                                 # ends its workers
    print(f"{name:20s} {seen / (time.perf_counter() - started):8.0f} samples/s ({seen} samples)")
