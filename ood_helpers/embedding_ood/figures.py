"""Figures of notebook 07 (paper 002): Fig. 1 (a confident answer the reconstruction error rejects),
Fig. 2 (architecture diagram from our layer sizes), Fig. 4 (embeddings of AE / AE + classifier / full model,
OOD digits marked, silhouette in the d-dim space) and Fig. 5 (OOD, correctly classified and misclassified
samples with thumbnails and scores)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from ood_helpers.core.plots.style import PALETTE, use_style


def tsne_map(z, *, seed: int) -> np.ndarray:
    """[N, 2] t-SNE of the rows of ``z`` (PCA init, perplexity min(30, N - 1), fixed seed, one thread)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    z = np.asarray(z, dtype=np.float64)
    with threadpool_limits(1):
        return TSNE(n_components=2, perplexity=min(30.0, len(z) - 1.0), init="pca", random_state=seed).fit_transform(z)


def fig1_skip_question(image, probs, classes, recon, error: float, threshold: float, image_name: str):
    """The OOD image, the AE + classifier's softmax (a confident answer) and the full model's reconstruction
    with J_r against the ID threshold (the decision to skip)."""
    use_style()
    fig, ax = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 1.6, 1]})
    ax[0].imshow(np.asarray(image).squeeze(), cmap="gray", vmin=0, vmax=1)
    ax[0].set_title(image_name, fontsize=9)
    ax[1].bar([str(c) for c in classes], probs, color=sns.color_palette(PALETTE)[0])
    k = int(np.argmax(probs))
    ax[1].set_title(f"AE + classifier: '{classes[k]}' with p = {probs[k]:.2f}")
    ax[1].set_ylim(0, 1)
    ax[1].set_ylabel("softmax probability")
    ax[2].imshow(np.asarray(recon).squeeze(), cmap="gray", vmin=0, vmax=1)
    verdict = "skip (OOD)" if error > threshold else "answer (looks ID)"
    ax[2].set_title(f"full model's reconstruction\nJ_r = {error:.1f} vs threshold {threshold:.1f}: {verdict}", fontsize=9)
    for a in (ax[0], ax[2]):
        a.set_xticks([]), a.set_yticks([])
    fig.tight_layout()
    return fig


def fig2_architecture(layers: list[str], embed_dim: int, num_classes: int):
    """Boxes and arrows of encoder -> z -> decoder / classifier / centres, with our layer sizes and loss terms."""
    use_style()
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.axis("off")
    boxes = {"x": (0.05, 0.5, "input x"), "enc": (0.25, 0.5, "encoder\n" + "\n".join(layers)),
             "z": (0.45, 0.5, f"embedding z\n(d = {embed_dim})"), "dec": (0.7, 0.8, "decoder (mirrored)\n-> x', J_r = |x - x'|^2\n(OOD score)"),
             "cls": (0.7, 0.5, f"linear classifier\n-> softmax over {num_classes}, J_c"),
             "clu": (0.7, 0.2, "centres c_j = (1-a) mu_j + a mu'_j\nStudent-t q, target P, J_e = KL(P||Q)")}
    for x, y, text in boxes.values():
        ax.text(x, y, text, ha="center", va="center", fontsize=8, bbox={"boxstyle": "round", "fc": "#eef", "ec": "#446"})
    for a, b in (("x", "enc"), ("enc", "z"), ("z", "dec"), ("z", "cls"), ("z", "clu")):
        (x0, y0, _), (x1, y1, _) = boxes[a], boxes[b]
        ax.annotate("", xy=(x1 - 0.09, y1), xytext=(x0 + 0.07, y0), arrowprops={"arrowstyle": "->"})
    ax.set_title("J = J_r + lambda_e J_e + lambda_c J_c (our layer sizes; the paper's Fig. 3 is lost)")
    return fig


def _scatter(ax, xy, digits, is_ood, palette):
    ids = sorted(set(digits[~is_ood].tolist()))
    for i, d in enumerate(ids):
        m = (digits == d) & ~is_ood
        ax.scatter(*xy[m].T, s=5, color=palette[i % len(palette)], alpha=0.7, linewidths=0)
        ax.text(*np.median(xy[m], 0), str(d), fontsize=10, weight="bold", ha="center", va="center")
    ax.scatter(*xy[is_ood].T, s=12, marker="x", color="black", alpha=0.7, linewidths=0.8, label="OOD (held out)")
    ax.set_xticks([]), ax.set_yticks([])


def fig4_embedding_spaces(maps: dict, digits, is_ood, captions: dict):
    """One panel per model (``maps`` name -> [N, 2]); ID points coloured by digit, held-out digits as black x."""
    use_style()
    palette = sns.color_palette("tab10", 10)
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 4.4))
    for ax, (name, xy) in zip(np.atleast_1d(axes), maps.items()):
        _scatter(ax, xy, np.asarray(digits), np.asarray(is_ood, bool), palette)
        ax.set_title(name)
        ax.set_xlabel(captions.get(name, ""), fontsize=8)
    np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def fig5_sample_types(xy, digits, is_ood, panels: dict, images, recons, errors):
    """Three panels on the full model's map; ``panels`` title -> indices to highlight with their image
    (left) and reconstruction (right) thumbnails and J_r."""
    use_style()
    palette = sns.color_palette("tab10", 10)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 5))
    for ax, (title, idx) in zip(np.atleast_1d(axes), panels.items()):
        _scatter(ax, xy, np.asarray(digits), np.asarray(is_ood, bool), palette)
        ax.set_title(title, fontsize=10)
        for j, i in enumerate(idx):
            pair = np.concatenate([np.asarray(images[i]).squeeze(), np.asarray(recons[i]).squeeze().clip(0, 1)], axis=1)
            box = OffsetImage(pair, zoom=1.1, cmap="gray")
            spot = (1.17, 0.9 - j * (0.8 / max(1, len(idx) - 1)))  # a column of thumbnails right of the map
            ax.add_artist(AnnotationBbox(box, xy[i], xybox=spot, xycoords="data", boxcoords="axes fraction",
                                         arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "0.3"}, annotation_clip=False))
            ax.annotate(f"J_r {errors[i]:.0f}", spot, xytext=(0, -26), textcoords="offset points", xycoords="axes fraction",
                        ha="center", fontsize=7, annotation_clip=False)
    fig.tight_layout()
    return fig
