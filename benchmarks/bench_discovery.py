"""Stream steps per second of the open-world discovery rule (notebook 10): R runs in lockstep (one
batched scorer call a step) against the same R runs one at a time, for eq. 1 and cosine NN.

Random embeddings and weights (timings do not depend on them): ``--classes`` known classes of k - 1
exemplars each and ``--new`` new classes in every stream, ``--per-class`` stream images a class, the
threshold at the median initial score so that runs open classes as real ones do. The Transformer is
the quick profile's (2 layers, 4 heads of 16) unless ``--paper`` (6 layers, 16 heads of 64, k = 25,
512-dim embeddings). Also checks that lockstep and lone runs give identical predictions.

Measured on the 2-core development CPU (1 torch thread, load average ~2.6 from other jobs; default
arguments, 6 runs x 690 steps): eq. 1 lockstep 6.6 s (626 image steps/s), one at a time 16.4 s;
cosine NN 0.53 s vs 0.85 s; identical predictions both ways. On notebook 10's quick streams (6 x 420
images, the trained model): eq. 1 3.8 s vs 11.6 s. No GPU was at hand.

    python benchmarks/bench_discovery.py [--runs 6] [--paper] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ood_helpers.discovery.rule import discover
from ood_helpers.discovery.scorers import HomogeneityClassScorer, NeighbourClassScorer
from ood_helpers.discovery.stream import make_stream
from ood_helpers.homogeneity.model import HomogeneityModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--new", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--paper", action="store_true", help="the paper's Transformer, k = 25, 512-dim embeddings")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    k, dim, layers, heads, head_dim = (25, 512, 6, 16, 64) if a.paper else (10, 128, 2, 4, 16)
    n_cls = a.classes + a.new
    targets = np.repeat(np.arange(n_cls), a.per_class + k - 1)
    centres = torch.randn(n_cls, dim)
    emb = centres[torch.as_tensor(targets)] + 0.8 * torch.randn(len(targets), dim)
    model = HomogeneityModel(torch.nn.Identity(), dim, layers=layers, heads=heads, head_dim=head_dim).eval()
    streams = [make_stream(targets, np.arange(a.classes), np.arange(a.classes, n_cls), n_memory=k - 1,
                           order="shuffled", seed=s) for s in range(a.runs)]
    scorers = {"eq. 1": HomogeneityClassScorer(model, emb, device=a.device),
               "cosine NN": NeighbourClassScorer(emb, "cosine", device=a.device)}
    for name, sc in scorers.items():
        st0 = streams[0]
        classes = np.unique(st0.memory_labels)
        ex = np.stack([st0.memory[st0.memory_labels == c] for c in classes])
        first = sc(np.repeat(st0.images[:50], len(classes)), np.tile(ex, (50, 1)), np.full(50 * len(classes), k - 1))
        thr = float(np.median(np.asarray(first).reshape(50, -1).max(1)))

        def run(sts):
            return discover(sc, np.stack([s.images for s in sts]), [s.memory for s in sts],
                            [s.memory_labels for s in sts], [thr] * len(sts), n_exemplars=k - 1,
                            seeds=[s.seed for s in sts]).pred

        t = time.perf_counter()
        together = run(streams)
        lock = time.perf_counter() - t
        t = time.perf_counter()
        alone = np.concatenate([run([s]) for s in streams])
        lone = time.perf_counter() - t
        print(f"{name} on {a.device}: {a.runs} runs x {len(streams[0])} steps: lockstep {lock:.2f} s "
              f"({a.runs * len(streams[0]) / lock:.0f} image steps/s), one at a time {lone:.2f} s; "
              f"identical predictions: {bool((together == alone).all())}")


if __name__ == "__main__":
    main()
