"""What Figs. 1, 4 and 5 of notebook 07 show, computed from trained models: t-SNE maps from the same settings
and seed for every panel, silhouettes in the d-dim embedding (never in the 2-D map), ranked (not random)
sample choices, and the skip decision against the 95th percentile of ID validation errors."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import silhouette_score

from ood_helpers.core.metrics.ood import accept_threshold, auroc
from ood_helpers.embedding_ood import datasets as D
from ood_helpers.embedding_ood.figures import tsne_map
from ood_helpers.embedding_ood.autoencoder import score
from ood_helpers.embedding_ood.typeset import GLYPHS_NAME

FIG4_MODELS = ("AE", "AE + classifier", "full")


def fig4_inputs(kept: dict, *, seed: int, kept_digits) -> dict:
    """maps (model -> [N, 2]), original digits, is_ood, captions with accuracy, ID silhouette by label in the
    d-dim embedding and the AUROC of J_r, for the ID + held-out test points of one split."""
    kept_digits = np.asarray(kept_digits)
    digits = np.r_[kept_digits[kept["y_in"]], kept["digits_out"]]
    is_ood = np.r_[np.zeros(len(kept["y_in"]), bool), np.ones(len(kept["digits_out"]), bool)]
    maps, captions, stats = {}, {}, {}
    for name in FIG4_MODELS:
        si, so = kept["scores_in"][name], kept["scores_out"][name]
        z = np.r_[si["z"], so["z"]]
        maps[name] = tsne_map(z, seed=seed)
        sil = float(silhouette_score(si["z"], kept["y_in"]))
        au = auroc(si["error"], so["error"])
        acc = float((si["probs"].argmax(1) == kept["y_in"]).mean()) if name != "AE" else float("nan")
        stats[name] = {"silhouette": sil, "auroc": au, "accuracy": acc}
        acc_text = "untrained head" if name == "AE" else f"{100 * acc:.1f}%"
        captions[name] = f"accuracy {acc_text}, silhouette (d-dim) {sil:.3f}, AUROC J_r {100 * au:.1f}"
    return {"maps": maps, "digits": digits, "is_ood": is_ood, "captions": captions, "stats": stats}


def fig5_panels(kept: dict, per_panel: int = 4) -> dict:
    """Indices (into ID + OOD test points) by rank: OOD with the largest and smallest J_r, the most confident
    correct ID points and the most confident misclassified ones, all from the full model."""
    si, so = kept["scores_in"]["full"], kept["scores_out"]["full"]
    n_in = len(si["error"])
    pred, conf = si["probs"].argmax(1), si["probs"].max(1)
    correct = np.flatnonzero(pred == kept["y_in"])
    wrong = np.flatnonzero(pred != kept["y_in"])
    o = np.argsort(-so["error"], kind="stable")
    half = per_panel // 2
    return {
        "(a) OOD: largest and smallest J_r": np.r_[o[:half], o[::-1][:per_panel - half]] + n_in,
        "(b) correctly classified, most confident": correct[np.argsort(-conf[correct], kind="stable")[:per_panel]],
        "(c) misclassified, most confident": wrong[np.argsort(-conf[wrong], kind="stable")[:per_panel]],
    }


@torch.no_grad()
def reconstructions(model, images: torch.Tensor) -> np.ndarray:
    model.eval()
    x = images.to(next(model.parameters()).device)
    return model.autoencoder.decode(model.autoencoder.encode(x)).cpu().numpy()


def fig1_candidates(first: dict, *, offline: bool, n: int = 200) -> tuple[torch.Tensor, str]:
    """(images, what they are) Fig. 1 picks its image from: the first ``n`` CIFAR-10 cats, grey 28x28, where
    Table I scored CIFAR-10bw (``first`` of ``experiments.cross_dataset_records``), else the first ``n`` typeset
    glyphs of the Omniglot-like stand-in."""
    if D.CIFAR_GREY in first["sets"]:
        cat_x, cat_y = D._cifar("test", channels=1, size=28, download=not offline)
        return cat_x[torch.from_numpy(np.flatnonzero(cat_y == 3)[:n])], "CIFAR-10 cat, grey 28x28"
    return first["sets"][GLYPHS_NAME][:n], "typeset glyph (stand-in for a sketch)"


def fig1_inputs(first: dict, candidates: torch.Tensor) -> dict:
    """Of the OOD ``candidates`` [M, 1, 28, 28], the one the AE + classifier answers most confidently (by rank,
    not chosen by eye): its softmax, and the full model's reconstruction, J_r and the skip threshold (95th
    percentile of J_r on ID validation images)."""
    cls, full = first["trained"].models["AE + classifier"], first["trained"].models["full"]
    all_probs = score(cls, candidates)["probs"]
    pick = int(np.argmax(all_probs.max(1)))
    image, probs = candidates[pick:pick + 1], all_probs[pick]
    s = score(full, image)
    threshold = accept_threshold(first["val_scores"]["full"]["error"], 0.95)
    return {"image": image[0], "index": pick, "probs": probs, "recon": reconstructions(full, image)[0],
            "error": float(s["error"][0]), "threshold": threshold}
