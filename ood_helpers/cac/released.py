"""The authors' released CIFAR-10 networks (``dimitymiller/cac-openset``, ``networks/weights/CIFAR10``) through this
package's test-time pipeline (Algorithm 1, as the official ``eval_cacOpenset.py`` / ``eval_closedSet.py`` run it).

- Each checkpoint ``{"net": state_dict, "acc", "epoch"}`` loads with ``weights_only=True``; its official OSRCI state
  dict is mapped onto ``network.OSRCIEncoder`` by an explicit key map (``official_key_map``) and loaded strictly.
  The structures are the same (three blocks of 3 x [conv, BN, LeakyReLU] + Dropout2d, flatten, Linear ``classify``),
  so no adapter is needed; the official copies under ``encoder.encoder1..3`` must equal the named tensors, and
  ``means`` / ``covars`` / ``invcovars`` / ``anchors`` (the anchors 10 I and unused Gaussians) are dropped.
- Images: trial ``t`` of the old (v1) CIFAR-10 split (``splits.OLD``) through ``data.load_paper_set``, so CIFAR-10
  comes from ``OOD_CIFAR10_DIR`` (an image-folder copy such as the JPEG one, or torchvision's files); no download.
  Normalised with the trial's official mean / std from the release's ``config.json`` (ToTensor, Normalize).
- CAC: anchors = mean logit of the correctly classified training images and their mirror images (the official
  ``find_anchor_means(only_correct=True)``, flipped copies for CIFAR), then s_min and argmin s; CE: MSP and argmax.
  Training images = the train part of the package's 80/20 per-class cut (seed 1000), not the official index file.
- Rows: ``COLUMNS``; ``aupr`` has unknown as the positive class (like ``auroc``), ``fpr95`` is the share of known
  test images flagged when 95 % of unknowns are; ``val_accuracy`` / ``epoch`` are the checkpoint's own.

``python -m ood_helpers.cac.released WEIGHTS_DIR [--trials 0,1,2,3,4] [--out FILE.csv] [--limit N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ood_helpers.core.artifacts import atomic_write_text
from ood_helpers.core.data.image_folder import first_per_class
from ood_helpers.core.metrics.ood import ood_metrics
from ood_helpers.cac.data import TrialData, load_paper_set
from ood_helpers.cac.network import OSRCIEncoder
from ood_helpers.cac.scoring import cac_scores, msp_scores, recompute_anchors

NETWORK_FILES = {"cac": "CIFAR10_{trial}_CACclassifierAnchorLoss.pth", "ce": "CIFAR10_{trial}_closedSetClassifier.pth"}
CONFIG_FILE = "config.json"
TRIALS = (0, 1, 2, 3, 4)
BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
EXTRA_KEYS = ("anchors", "means", "covars", "invcovars")  # the CAC files' anchors 10 I and unused Gaussians
BLOCK = 10  # modules of one block of OSRCIEncoder.features: 3 x (conv, BN, LeakyReLU) + Dropout2d
COLUMNS = ("trial", "network", "accuracy", "auroc", "aupr", "fpr95", "val_accuracy", "epoch", "known", "unknown",
           "anchor_images")
LABEL = "authors' released network, scored by this pipeline (CIFAR-10 as JPEG)"


class ReleasedWeightsError(ValueError):
    """A weights folder, checkpoint or state dict that is not the authors' CIFAR-10 release."""


def official_key_map() -> dict[str, str]:
    """Official key -> ``OSRCIEncoder`` key: conv k and BN k (k = 1..9) of block b = (k - 1) // 3 sit at
    ``features[10 b + 3 ((k - 1) % 3)]`` and the index after it; ``classify`` is ``fc``."""
    out = {}
    for k in range(1, 10):
        block, pos = divmod(k - 1, 3)
        conv = BLOCK * block + 3 * pos
        out[f"encoder.conv{k}.weight"] = f"features.{conv}.weight"
        out.update({f"encoder.bn{k}.{f}": f"features.{conv + 1}.{f}" for f in BN_FIELDS})
    return {**out, "classify.weight": "fc.weight", "classify.bias": "fc.bias"}


def alias_map() -> dict[str, str]:
    """The official ``encoder.encoder1..3`` Sequentials' keys -> the named keys of the same tensors."""
    out = {}
    for k in range(1, 10):
        block, pos = divmod(k - 1, 3)
        seq = f"encoder.encoder{block + 1}"
        out[f"{seq}.{3 * pos}.weight"] = f"encoder.conv{k}.weight"
        out.update({f"{seq}.{3 * pos + 1}.{f}": f"encoder.bn{k}.{f}" for f in BN_FIELDS})
    return out


def _names(keys) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:12]) + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")


def map_state_dict(state, source: str = "state dict") -> dict[str, torch.Tensor]:
    """The official state dict under ``OSRCIEncoder``'s keys; refuses, naming the keys, one with keys missing or
    unexpected, or whose ``encoder.encoderN`` copy differs from the named tensor."""
    if not isinstance(state, dict):
        raise ReleasedWeightsError(f"{source}: expected a state dict, got {type(state).__name__}")
    keys, aliases = official_key_map(), alias_map()
    missing = [k for k in keys if k not in state]
    unexpected = [k for k in state if k not in keys and k not in aliases and k not in EXTRA_KEYS]
    if missing or unexpected:
        raise ReleasedWeightsError(f"{source} is not the official OSRCI network: missing keys [{_names(missing)}], "
                                   f"unexpected keys [{_names(unexpected)}]")
    differ = [a for a, k in aliases.items() if a in state and not torch.equal(state[a], state[k])]
    if differ:
        raise ReleasedWeightsError(f"{source}: the copies [{_names(differ)}] differ from their named tensors")
    return {ours: state[theirs] for theirs, ours in keys.items()}


def load_released(path, device: str = "cpu") -> tuple[OSRCIEncoder, dict]:
    """(network in eval mode, ``{"val_accuracy": fraction, "epoch": int}``) of one released checkpoint."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a damaged or foreign file
        raise ReleasedWeightsError(f"{path} is not a readable weights-only checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(ckpt, dict) or "net" not in ckpt:
        raise ReleasedWeightsError(f"{path}: expected a dict with key 'net' (the released format), got "
                                   f"{sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__}")
    state = map_state_dict(ckpt["net"], str(path))
    net = OSRCIEncoder(int(state["fc.weight"].shape[0]), in_channels=int(state["features.0.weight"].shape[1]))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:  # shapes that do not fit
        raise ReleasedWeightsError(f"{path}: the mapped state dict does not fit OSRCIEncoder: {err}") from err
    info = {"val_accuracy": float(ckpt.get("acc", math.nan)) / 100, "epoch": int(ckpt.get("epoch", -1))}
    return net.eval().to(device), info


def parse_trials(text) -> tuple[int, ...]:
    """"0,1,2" (or ints) -> (0, 1, 2); each in 0..4, no repeats."""
    parts = [str(t).strip() for t in (text.split(",") if isinstance(text, str) else text)]
    if not parts or not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(f"trials must be comma-separated integers in 0..4, such as 0,1,2,3,4; got {text!r}")
    trials = tuple(int(p) for p in parts)
    bad = [t for t in trials if t not in TRIALS]
    if bad or len(set(trials)) != len(trials):
        raise ValueError(f"trials must be distinct integers in 0..4 (the release's five old splits); got {text!r}")
    return trials


def check_weights_dir(folder, trials=TRIALS, networks=tuple(NETWORK_FILES)) -> Path:
    """``folder`` after checking it holds ``config.json`` with CIFAR-10 statistics for ``trials`` and every
    checkpoint asked for; the error lists all that is missing."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"released weights folder {folder} does not exist; expected the files of "
                                "cac-openset's networks/weights/CIFAR10/ and its datasets/config.json")
    unknown = [n for n in networks if n not in NETWORK_FILES]
    if unknown:
        raise ValueError(f"networks must be among {sorted(NETWORK_FILES)}, got {unknown}")
    trials = parse_trials(trials)
    needed = [CONFIG_FILE] + [NETWORK_FILES[n].format(trial=t) for t in trials for n in networks]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"released weights folder {folder} lacks {', '.join(missing)}")
    for trial in trials:
        official_stats(folder, trial)
    return folder


def official_stats(folder, trial: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel of ``trial`` from the release's ``config.json`` (key CIFAR10)."""
    path = Path(folder) / CONFIG_FILE
    try:
        cfg = json.loads(path.read_text())["CIFAR10"]
        mean, std = tuple(map(float, cfg["data_mean"][trial])), tuple(map(float, cfg["data_std"][trial]))
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ReleasedWeightsError(f"{path}: no CIFAR10 data_mean / data_std for trial {trial} "
                                   f"({type(err).__name__}: {err})") from err
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ReleasedWeightsError(f"{path}: trial {trial} needs 3 means and 3 positive stds, got {mean}, {std}")
    return mean, std


def _check_limit(limit) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int (images per class), got {limit!r}")


def released_data(trial: int, limit: int | None = None) -> TrialData:
    """Trial ``trial`` of the old CIFAR-10 split (``OOD_CIFAR10_DIR``, no download); with ``limit``, the first
    ``limit`` images of each class of the training part, the known test and the unknown test images."""
    _check_limit(limit)
    data = load_paper_set("cifar10", trial, version="old", download=False)
    if limit is None:
        return data
    for part in ("train", "test", "unknown"):
        y = getattr(data, f"y_{part}")
        keep = torch.from_numpy(first_per_class(y.numpy(), limit))
        setattr(data, f"x_{part}", getattr(data, f"x_{part}")[keep])
        setattr(data, f"y_{part}", y[keep])
    return data


def released_logits(net, x: torch.Tensor, mean, std, *, flip: bool = False, batch: int = 500) -> torch.Tensor:
    """float32 logits of uint8 images [N, 3, H, W] after the official test transform (x / 255, then normalised by
    ``mean`` / ``std``; mirrored when ``flip``), in batches, channels-last (3x faster on CPU, same values)."""
    device = next(net.parameters()).device
    net = net.to(memory_format=torch.channels_last)
    m, s = (torch.tensor(v, dtype=torch.float32, device=device).view(1, -1, 1, 1) for v in (mean, std))
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].to(device).float().div(255)
            xb = ((xb.flip(-1) if flip else xb) - m) / s
            out.append(net(xb.contiguous(memory_format=torch.channels_last)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, net.fc.out_features)


def score_network(net, network: str, data: TrialData, mean, std) -> dict:
    """``{"s_known", "s_unknown", "pred_known", "anchors"}``: CAC by s_min against the anchors recomputed from the
    correctly classified training images and their mirror images, CE by MSP (``anchors`` None)."""
    z_known, z_unknown = (released_logits(net, x, mean, std) for x in (data.x_test, data.x_unknown))
    if network == "ce":
        (s_k, p_k), (s_u, _) = msp_scores(z_known), msp_scores(z_unknown)
        return {"s_known": s_k, "s_unknown": s_u, "pred_known": p_k, "anchors": None}
    z_train = torch.cat([released_logits(net, data.x_train, mean, std, flip=f) for f in (False, True)])
    centres = recompute_anchors(z_train, data.y_train.repeat(2), data.num_classes)
    (s_k, p_k), (s_u, _) = cac_scores(z_known, centres), cac_scores(z_unknown, centres)
    return {"s_known": s_k, "s_unknown": s_u, "pred_known": p_k, "anchors": centres}


def score_trial(folder, trial: int, data: TrialData, networks=tuple(NETWORK_FILES), device: str = "cpu") -> list[dict]:
    """One row (``COLUMNS``) per network of ``trial`` on ``data``."""
    mean, std = official_stats(folder, trial)
    rows = []
    for network in networks:
        net, info = load_released(Path(folder) / NETWORK_FILES[network].format(trial=trial), device)
        out = score_network(net, network, data, mean, std)
        m = ood_metrics(out["s_known"], out["s_unknown"])
        rows.append({"trial": trial, "network": network,
                     "accuracy": float(np.mean(out["pred_known"] == data.y_test.numpy())),
                     "auroc": m["auroc"], "aupr": m["aupr_out"], "fpr95": m["fpr95"], **info,
                     "known": len(data.y_test), "unknown": len(data.y_unknown),
                     "anchor_images": 2 * len(data.y_train) if network == "cac" else 0})
    return rows


def released_table(folder, trials=TRIALS, *, limit: int | None = None, networks=tuple(NETWORK_FILES),
                   device: str = "cpu", progress=None) -> pd.DataFrame:
    """Every trial's rows (``COLUMNS``); inputs are checked before any image is read."""
    trials = parse_trials(trials)
    folder = check_weights_dir(folder, trials, networks)
    _check_limit(limit)
    rows = []
    for trial in trials:
        started = time.perf_counter()
        rows += score_trial(folder, trial, released_data(trial, limit), networks, device)
        if progress:
            progress(f"trial {trial}: {time.perf_counter() - started:.1f} s")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_csv(df: pd.DataFrame, path) -> Path:
    """``df`` as CSV at ``path``, written atomically."""
    return atomic_write_text(path, df.to_csv(index=False, lineterminator="\n", float_format="%.6f"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ood_helpers.cac.released", description=__doc__.split("\n\n")[0])
    ap.add_argument("weights_dir", help="folder with CIFAR10_<t>_*.pth and config.json of the release")
    ap.add_argument("--trials", default="0,1,2,3,4", help="comma-separated trials in 0..4 (default all five)")
    ap.add_argument("--out", help="CSV to write (atomically); the table is printed either way")
    ap.add_argument("--limit", type=int, help="images per class of each part (a quick check); default all")
    ap.add_argument("--networks", default="cac,ce", help="cac, ce or both (default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    try:
        started = time.perf_counter()
        df = released_table(args.weights_dir, args.trials, limit=args.limit, networks=tuple(args.networks.split(",")),
                            device=args.device, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wall time {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if args.out:
        print(f"wrote {write_csv(df, args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
