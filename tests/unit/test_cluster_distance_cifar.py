"""The cifar profile's real loading path of notebook 08, as a tiny CPU dry run on a slice of the CIFAR-10
JPEG folder (../shared/data/cifar10-jpg.tar.gz, a developer file: skipped when absent)."""

import dataclasses

import pytest

from ood_helpers.cluster_distance.grid import run_grid
from ood_helpers.cluster_distance.settings import CLUSTER_DISTANCE
from ood_helpers.core.profile import get_profile
from tests.support import extract_cifar


@pytest.fixture
def cifar_slice(tmp_path, monkeypatch):
    root = extract_cifar(tmp_path, {"train": 12, "test": 4})  # first files of each class
    monkeypatch.setenv("OOD_CIFAR10_DIR", str(root))
    return root


def test_cifar_profile_runs_on_a_folder_copy(cifar_slice):
    p = dataclasses.replace(get_profile("cifar"), device="cpu", per_class=(10, 2, 4))
    s = dataclasses.replace(CLUSTER_DISTANCE["cifar"], id_sets=("cifar10",), cifar_ood=("gaussian",), resnet_width=4,
                            ce_steps=2, contrastive_steps=2, batch_size=16, head_hidden=8, head_out=4,
                            sub_clusters=(2,), kmeans_factors=(1,), knn_ks=(1,), kmeans_n_init=1, far_images=20,
                            ood_limit=20)
    r = run_grid(p, s)
    assert set(r.scores["ood_set"]) == {"far: gaussian", "far: photo crops"}
    assert set(r.scores["training"]) == {"CE", "SupCon", "SimCLR", "SupCon (proj)", "SimCLR (proj)"}
    assert r.cost["train_seconds"].gt(0).all() and len(r.cost) == 3
    assert r.scores["auroc"].between(0, 100).all()
