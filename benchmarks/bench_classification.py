"""Sets per second of the eq. 1 scorer (OOD classification) at the paper's model size.

``HomogeneityScorer`` scores embedded sets [k - 1 supports, query] with the paper's Transformer
(6 layers, 16 heads of 64, feed-forward 4096, k = 25, ResNet-18 embeddings of 512), the last
layer at position 0 only; fp32 on the CPU, bf16 autocast on CUDA. Weights and embeddings are
random, which changes no timing. Besides sets/s the table gives the FLOP rate (FLOPs per set
counted from the model's matrix products) as a fraction of the device's dense bf16 peak, and
the hours one Table 1 trial of the paper (1e6 queries x 1000 classes = 1e9 sets) would take.

Measured on the 2-core CPU of the development machine (an AVX-512 Xeon, 1 torch thread, default
arguments: `python benchmarks/bench_classification.py --threads 1`; FLOPs per set agree with
``torch.utils.flop_counter`` to 0.4%). No GPU was at hand; on one, the same command adds a CUDA
row and the bf16-vs-fp32 agreement of the logits:

| device | dtype | sets | batch | s | sets/s | GFLOP/set | TFLOP/s | % bf16 peak | Table 1 trial (h) |
|---|---|---|---|---|---|---|---|---|---|
| cpu | float32 | 128 | 64 | 2.27 | 56 | 3.31 | 0.187 | unknown | 4,925 |

    python benchmarks/bench_classification.py            # CPU, and CUDA when there is a GPU
    python benchmarks/bench_classification.py --help
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from ood_helpers.homogeneity.episodes import Episodes
from ood_helpers.homogeneity.scorers import HomogeneityScorer, homogeneity_scores
from ood_helpers.homogeneity.model import HomogeneityModel

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from the vendors' data sheets; matched
# against torch.cuda.get_device_name() in this order (first substring that occurs).
BF16_PEAK = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12),
             ("B200", 2250e12), ("A100", 312e12), ("L40S", 362e12), ("L4", 121e12), ("A10", 125e12))
PAPER_TRIAL_SETS = 1_000 * 1_000 * 1_000  # Table 1: 1000 queries a class x 1000 classes x 1000 candidates


def flops_per_set(model: HomogeneityModel, k: int) -> float:
    """Multiply-add FLOPs (2 per MAC) of one set of ``k`` through ``position0_logits``."""
    a = model.architecture
    d, ff, layers = a["heads"] * a["head_dim"], a["ffn_dim"], a["layers"]
    project = 2 * k * (a["embed_dim"] + a["marker_dim"]) * d
    full = 2 * k * d * 3 * d + 2 * 2 * k * k * d + 2 * k * d * d + 2 * 2 * k * d * ff
    # last layer at position 0: keys and values of every position, the rest for one
    last = 2 * k * d * 2 * d + 2 * d * d + 2 * 2 * k * d + 2 * d * d + 2 * 2 * d * ff
    return float(project + (layers - 1) * full + last + 2 * d)


def bf16_peak(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    return next((peak for key, peak in BF16_PEAK if key in name), None)


def random_episodes(n_images: int, queries: int, candidates: int, k: int, seed: int = 0) -> Episodes:
    rng = np.random.default_rng(seed)
    return Episodes(rng.integers(0, n_images, queries), np.zeros(queries, dtype=np.int64), np.arange(candidates),
                    rng.integers(0, n_images, (queries, candidates, k - 1)))


def measure(model, emb, episodes, device: str, batch_sets: int, repeats: int) -> float:
    """Best wall time of ``repeats`` scorings (after one warm-up)."""
    scorer = HomogeneityScorer(model, emb, device=device, batch_sets=batch_sets)
    scorer(random_episodes(len(emb), 1, min(batch_sets, len(episodes.candidates)), episodes.supports.shape[2] + 1))
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        scorer(episodes)  # returns CPU scores: the device work is finished when it returns
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-sets", type=int, default=128, help="sets scored on the CPU (0 skips the CPU)")
    parser.add_argument("--cpu-batch", type=int, default=64, help="sets per forward pass on the CPU")
    parser.add_argument("--cuda-sets", type=int, default=262_144, help="sets scored on CUDA (0 skips CUDA)")
    parser.add_argument("--cuda-batch", type=int, default=4096, help="sets per forward pass on CUDA "
                        "(profile.eval_batch_sets)")
    parser.add_argument("--k", type=int, default=25, help="set size (k - 1 supports + the query)")
    parser.add_argument("--layers", type=int, default=6, help="Transformer layers")
    parser.add_argument("--heads", type=int, default=16, help="attention heads")
    parser.add_argument("--head-dim", type=int, default=64, help="width of a head")
    parser.add_argument("--embed-dim", type=int, default=512, help="ResNet-18 embedding size")
    parser.add_argument("--images", type=int, default=50_000, help="embedded images the sets index into")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per device (the best is shown)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = HomogeneityModel(nn.Identity(), args.embed_dim, args.layers, args.heads, args.head_dim).eval()
    emb = torch.randn(args.images, args.embed_dim)
    flops = flops_per_set(model, args.k)
    runs = [("cpu", args.cpu_sets, args.cpu_batch)] if args.cpu_sets else []
    if torch.cuda.is_available() and args.cuda_sets:
        runs.append(("cuda", args.cuda_sets, args.cuda_batch))
    print(f"model: {args.layers} layers x {args.heads} heads x {args.head_dim}, k = {args.k}, embeddings "
          f"{args.embed_dim}; {flops / 1e9:.2f} GFLOP a set; {torch.get_num_threads()} CPU threads\n")
    print("| device | dtype | sets | batch | s | sets/s | GFLOP/set | TFLOP/s | % bf16 peak | Table 1 trial (h) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for device, sets, batch in runs:
        candidates = min(1000, sets)
        episodes = random_episodes(args.images, max(1, sets // candidates), candidates, args.k)
        n_sets = episodes.supports.shape[0] * candidates
        seconds = measure(model, emb, episodes, device, batch, args.repeats)
        rate, peak = n_sets / seconds, bf16_peak(device)
        share = "unknown" if peak is None else f"{100 * rate * flops / peak:.1f}"
        name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
        dtype = "bfloat16 autocast" if device == "cuda" else "float32"
        print(f"| {name} | {dtype} | {n_sets} | {batch} | {seconds:.2f} | {rate:,.0f} | {flops / 1e9:.2f} | "
              f"{rate * flops / 1e12:.3f} | {share} | {PAPER_TRIAL_SETS / rate / 3600:,.1f} |")
    if len(runs) == 2:  # bf16 on CUDA against fp32 on the CPU, on the same sets
        small = random_episodes(args.images, 4, 64, args.k, seed=1)
        ref = homogeneity_scores(model, emb, small, batch_sets=64)
        low = homogeneity_scores(model, emb, small, batch_sets=64, device="cuda")
        print(f"\nbf16 vs fp32 on {small.supports.shape[0] * 64} sets: max |logit difference| "
              f"{(low - ref).abs().max().item():.3g} (logit std {ref.std().item():.3g}), same argmax on "
              f"{(low.argmax(1) == ref.argmax(1)).float().mean().item():.0%} of queries")


if __name__ == "__main__":
    main()
