"""How alike two models' guided-backprop maps are: a number for Figure 1's "same features".

Paper 000 (section 2) shows that ResNets never trained on some classes highlight the same
features of those classes' images as a ResNet trained on every class. Here each map becomes a
saliency ranking of the pixels (|attribution| with channels summed, as the figure draws it)
and two models are compared by the Spearman rank correlation of their rankings, image by
image. A second all-classes model of another seed gives the ceiling (how alike two equally
trained models are) and an untrained network of the same architecture the floor.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr

from ood_helpers.homogeneity.attribution import guided_backprop, sample_class_images

IMAGE = "input image (pixel intensity)"
FIGURE1_CLAIM = "same features (Fig. 1, qualitative)"  # the paper gives no number for Figure 1


def saliency(maps: torch.Tensor) -> np.ndarray:
    """Per-pixel saliency float64 [N, H*W]: |sum over channels| of maps [N, C, H, W]."""
    if not torch.is_tensor(maps) or maps.ndim != 4:
        shape = tuple(maps.shape) if torch.is_tensor(maps) else type(maps).__name__
        raise ValueError(f"maps must be a tensor [N, C, H, W], got {shape}")
    return maps.detach().double().sum(dim=1).abs().flatten(1).cpu().numpy()


def rank_similarity(maps_a: torch.Tensor, maps_b: torch.Tensor) -> np.ndarray:
    """Spearman rank correlation float64 [N] between the saliency of maps_a[i] and maps_b[i].

    A constant map (a network whose ReLUs are all dead on that image) ranks no pixel above
    another; its correlation is undefined and counted as 0, no shared ranking.
    """
    if tuple(maps_a.shape) != tuple(maps_b.shape):
        raise ValueError(f"maps must have one shape, got {tuple(maps_a.shape)} and {tuple(maps_b.shape)}")
    a, b = saliency(maps_a), saliency(maps_b)
    rho = np.empty(len(a))
    for i in range(len(a)):
        if np.ptp(a[i]) == 0 or np.ptp(b[i]) == 0:
            rho[i] = 0.0
        else:
            rho[i] = spearmanr(a[i], b[i]).statistic
    return rho


def trial_chunks(n: int, trials: int, seed: int) -> list[np.ndarray]:
    """``trials`` disjoint random index sets covering 0..n-1 (sizes differ by at most one)."""
    if not isinstance(trials, (int, np.integer)) or not 1 <= trials <= n:
        raise ValueError(f"trials must be an int in [1, {n}] (one image at least per trial), got {trials!r}")
    return [np.sort(c) for c in np.array_split(np.random.default_rng(seed).permutation(n), int(trials))]


def similarity_records(
    reference_maps: torch.Tensor,
    candidate_maps: dict[str, torch.Tensor],
    *,
    images: str,
    trials: int,
    seed: int = 0,
) -> list[dict]:
    """Long records, one per (candidate, trial): ``{"comparison", "images", "trial", "spearman",
    "n_images"}`` with the mean per-image rank correlation to ``reference_maps`` over that trial's
    images. A trial is a disjoint random share of the images, so the std over trials is how much
    the mean moves from one sample of images to another."""
    chunks = trial_chunks(len(reference_maps), trials, seed)
    records = []
    for name, maps in candidate_maps.items():
        rho = rank_similarity(reference_maps, maps)
        for t, idx in enumerate(chunks):
            records.append({"comparison": name, "images": images, "trial": t, "spearman": float(rho[idx].mean()), "n_images": len(idx)})
    return records


def gbp_similarity(
    models: dict,
    test_set,
    held_out: dict[str, np.ndarray],
    *,
    subsets: tuple[str, ...],
    reference: str = "all",
    ceiling: str = "all_seed2",
    floor: str = "untrained",
    images_per_subset: int = 200,
    trials: int = 5,
    seed: int = 0,
    device: str = "cpu",
) -> list[dict]:
    """Long records (see :func:`similarity_records`) comparing guided-backprop maps with the
    ``reference`` model's, on test images of the classes each subset model never trained on.

    For each name in ``subsets`` (keys of ``models`` and ``held_out``), up to
    ``images_per_subset`` test images of its held-out classes are explained by the reference,
    by that subset model ("subset model"), by the ``ceiling`` model ("all classes, other seed")
    and by the ``floor`` model ("untrained"); each map explains the predicting model's own class.
    A fourth row compares the reference maps with the images themselves (``IMAGE``).
    ``models``: name -> (classifier, class ids) as from ``class_groups.experiment_models``.
    """
    missing = [m for m in (reference, ceiling, floor, *subsets) if m not in models]
    if missing:
        raise ValueError(f"models lack {missing}; they have {list(models)}")
    records = []
    for s, name in enumerate(subsets):
        images, _ = sample_class_images(test_set, held_out[name], images_per_subset, seed=seed + s)
        ref, _ = guided_backprop(models[reference][0], images, device=device)
        candidates = {
            label: guided_backprop(models[m][0], images, device=device)[0]
            for label, m in (("subset model", name), ("all classes, other seed", ceiling), ("untrained", floor))
        }
        candidates[IMAGE] = images  # how much of a map is the image's own intensity showing through
        records += similarity_records(ref, candidates, images=name, trials=trials, seed=seed)
    return records


def paper_claim(subsets, claim: str = FIGURE1_CLAIM) -> dict:
    """The "(paper)" cells of the similarity table: the paper's qualitative claim in the "subset model"
    row under every subset's column (``tables.trials_table``'s ``paper`` argument)."""
    return {"subset model": {name: claim for name in subsets}}


def ceiling_fraction(records, *, subset: str = "subset model", ceiling: str = "all classes, other seed", floor: str = "untrained"):
    """DataFrame, one row per image set: mean rank correlation of the subset model, the ceiling
    and the floor, and where the subset model sits between them, (subset - floor) / (ceiling - floor):
    1 = as alike as two all-classes models, 0 = no more alike than an untrained network; NaN
    where the ceiling does not exceed the floor."""
    import pandas as pd

    df = pd.DataFrame(list(records))
    means = df.groupby(["images", "comparison"], sort=False)["spearman"].mean().unstack("comparison")
    out = pd.DataFrame({"subset model": means[subset], "ceiling": means[ceiling], "floor": means[floor]})
    span = out["ceiling"] - out["floor"]
    # Undefined (NaN) when training adds no agreement beyond what an untrained network shows.
    out["position between floor and ceiling"] = ((out["subset model"] - out["floor"]) / span).where(span > 0)
    return out.round(3)


def describe_position(position) -> str:
    """One sentence per image set reading a :func:`ceiling_fraction` table in words."""
    lines = []
    for images, row in position.iterrows():
        s, c, f, p = row["subset model"], row["ceiling"], row["floor"], row["position between floor and ceiling"]
        head = f"{images}: subset model {s:.3f}, ceiling {c:.3f}, floor {f:.3f} -> "
        if not c > f:
            lines.append(head + "an untrained network agrees with the all-classes maps at least as well as a trained one does: "
                         "the agreement does not come from training, so it is no evidence for or against the claim.")
        elif p >= 0.75:
            lines.append(head + f"position {p:.2f}: nearly as alike as two all-classes networks (supports the paper).")
        elif p >= 0.25:
            lines.append(head + f"position {p:.2f}: part of the learned agreement survives never training on the class.")
        else:
            lines.append(head + f"position {p:.2f}: hardly more alike than an untrained network (does not support the paper).")
    return "\n".join(lines)
