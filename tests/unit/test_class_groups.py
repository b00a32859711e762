"""Class-subset selections: each group and each subset excludes exactly what it says."""

import numpy as np
import pytest
import torch

from ood_helpers.homogeneity import class_groups as cg
from ood_helpers.core.profile import get_profile
from tests.support import count_training, profile_with


def test_imagenet_wnids_are_the_standard_order():
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    wnids = cg.imagenet_wnids()
    assert len(wnids) == 1000 and len(set(wnids)) == 1000
    assert wnids == sorted(wnids)  # the class index order is the sorted wnid order
    assert wnids[0] == "n01440764" and wnids[-1] == "n15075141"
    # torchvision's names, index by index, appear among our synonyms (it renamed the two duplicates)
    mismatched = [
        i
        for i, ((_, names), tv) in enumerate(zip(cg.imagenet_synsets(), _IMAGENET_CATEGORIES))
        if tv.lower() not in [n.strip().lower() for n in names.split(",")]
    ]
    assert mismatched == [134, 639]  # "crane bird" / "maillot tank suit" in torchvision


def test_imagenet_dog_and_bird_groups():
    from torchvision.models._meta import _IMAGENET_CATEGORIES as names

    dogs, birds = cg.imagenet_group("dog"), cg.imagenet_group("bird")
    assert dogs.tolist() == list(range(151, 269))
    assert birds.tolist() == [*range(7, 25), *range(80, 101), *range(127, 147)]
    assert len(dogs) == 118 and len(birds) == 59
    dog_names = {names[i] for i in dogs}
    bird_names = {names[i] for i in birds}
    assert {"Chihuahua", "golden retriever", "Mexican hairless"} <= dog_names
    assert not {"timber wolf", "red fox", "dingo", "dhole", "hyena"} & dog_names  # canines, not dogs
    assert {"ostrich", "goose", "albatross", "great grey owl", "hen"} <= bird_names
    assert not {"tusker", "stingray", "grey whale", "isopod"} & bird_names
    with pytest.raises(ValueError, match="unknown ImageNet group 'cat'"):
        cg.imagenet_group("cat")


def test_cifar100_superclasses_partition_the_fine_classes():
    groups = cg.cifar100_superclasses()
    assert len(groups) == 20 and all(len(v) == 5 for v in groups.values())
    fine = cg.cifar100_fine_names()
    assert len(fine) == 100 == len(set(fine))
    assert fine[:3] == ["apple", "aquarium_fish", "baby"] and fine[-1] == "worm"
    # fine label ids of the dataset's meta file
    assert cg.cifar100_group("fish").tolist() == [1, 32, 67, 73, 91]
    assert cg.cifar100_group("large_carnivores").tolist() == [3, 42, 43, 88, 97]
    with pytest.raises(ValueError, match="unknown CIFAR-100 superclass 'dogs'"):
        cg.cifar100_group("dogs")


def test_mnist_pairs_groups_match_the_dataset_class_names():
    from ood_helpers.core.data import load_dataset

    names = load_dataset("mnist-pairs", "test", per_class=(1, 1, 1)).classes
    tens7 = cg.mnist_pairs_group("tens", 7)
    units3 = cg.mnist_pairs_group("units", 3)
    assert [c for c in range(100) if names[c][0] == "7"] == tens7.tolist()
    assert [c for c in range(100) if names[c][1] == "3"] == units3.tolist()
    with pytest.raises(ValueError, match="digit must be an int in 0..9"):
        cg.mnist_pairs_group("tens", 10)
    with pytest.raises(ValueError, match="position must be 'tens' or 'units'"):
        cg.mnist_pairs_group("hundreds", 1)


@pytest.mark.parametrize(
    "profile_name, groups",
    [("quick", ("tens7", "units3")), ("cifar", ("large_carnivores", "fish")), ("paper", ("dog", "bird"))],
)
def test_class_subsets_exclude_exactly_their_group(profile_name, groups):
    from ood_helpers.core.data import class_split

    profile = get_profile(profile_name)
    subsets = cg.class_subsets(profile)
    held = cg.held_out_classes(profile)
    everything = set(range(profile.num_classes))
    assert list(subsets) == ["all", "random80", *(f"minus_{g}" for g in groups)]
    assert set(subsets["all"].tolist()) == everything and len(held["all"]) == 0
    assert set(subsets["random80"].tolist()) == set(class_split(profile).seen.tolist())
    assert len(subsets["random80"]) == round(0.8 * profile.num_classes)
    semantic = cg.semantic_groups(profile)
    for g in groups:
        kept, out = set(subsets[f"minus_{g}"].tolist()), set(held[f"minus_{g}"].tolist())
        assert out == set(semantic[g].tolist()) and len(out) > 0
        assert kept | out == everything and not kept & out
    for name, kept in subsets.items():
        assert np.all(np.diff(kept) > 0), f"{name} ids must be sorted and unique"


def test_quick_profile_groups_are_the_issue_numbers():
    held = cg.held_out_classes(get_profile("quick"))
    assert held["minus_tens7"].tolist() == list(range(70, 80))
    assert held["minus_units3"].tolist() == list(range(3, 100, 10))


def test_smoke_profile_groups_stay_non_empty():
    profile = get_profile("smoke")  # 12 classes: no number has tens digit 7
    held = cg.held_out_classes(profile)
    assert held["minus_tens1"].tolist() == [10, 11]
    assert held["minus_units3"].tolist() == [3]
    assert all(len(v) >= 2 for v in cg.class_subsets(profile).values())


def test_unknown_many_class_set_is_refused():
    profile = get_profile("quick", many_class="svhn")
    with pytest.raises(ValueError, match="no semantic groups for many-class set 'svhn'"):
        cg.class_subsets(profile)


def test_subset_classifier_never_sees_its_held_out_classes(tmp_path, monkeypatch):
    from ood_helpers.homogeneity import classifier as classifier_mod

    monkeypatch.setenv("OOD_ARTIFACTS_DIR", str(tmp_path))  # an empty cache: the first call must train
    results = []
    real_fit = classifier_mod.fit
    monkeypatch.setattr(classifier_mod, "fit", lambda *a, **k: results.append(real_fit(*a, **k)) or results[-1])
    seen_labels = []
    real_loss = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda logits, y, *a, **k: seen_labels.append(y.clone()) or real_loss(logits, y, *a, **k))
    profile = profile_with("smoke", pretrain_steps=2)
    with count_training() as trained:
        model, ids = cg.subset_classifier(profile, "minus_tens1", progress=False)
    assert ids.tolist() == [c for c in range(12) if c not in (10, 11)]
    assert model.fc.out_features == 10 and not model.training
    assert trained == {"steps": 2, "backward": 2}  # 120 images, batches of 32: one backward a step
    assert (results[0].resumed_from, results[0].step) == (0, 2)
    # labels are positions in ids (0..9): classes 10 and 11 never reach the loss
    assert len(seen_labels) == 2 and all(0 <= int(y.min()) and int(y.max()) <= 9 for y in seen_labels)

    with count_training() as trained:
        again, _ = cg.subset_classifier(profile, "minus_tens1", progress=False)
    # loaded from the cache: no backward pass, no optimizer step, fit started at its last step
    assert trained == {"steps": 0, "backward": 0}
    assert (results[1].resumed_from, results[1].step) == (2, 2) and len(seen_labels) == 2
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="unknown class subset 'minus_cats'"):
        cg.subset_classifier(profile, "minus_cats")


def test_untrained_floor_is_not_the_reference_initialisation():
    profile = get_profile("smoke")
    a, ids = cg.untrained_classifier(profile, seed=2)
    b, _ = cg.untrained_classifier(profile, seed=2)
    c, _ = cg.untrained_classifier(profile, seed=0)
    assert ids.tolist() == list(range(12)) and a.fc.out_features == 12
    assert torch.equal(a.conv1.weight, b.conv1.weight) and not torch.equal(a.conv1.weight, c.conv1.weight)


def test_trained_class_accuracy_counts_correct_predictions(monkeypatch):
    from ood_helpers.homogeneity import training as pipeline

    profile = get_profile("smoke")
    ids = np.array([5, 2, 9])  # label j of the model = class ids[j]

    class Oracle(torch.nn.Module):
        """Predicts from the image itself: images were swapped for their class id below."""

        def forward(self, x):
            cls = x[:, 0, 0, 0].round().long()
            out = torch.full((len(x), 3), -1.0)
            for j, c in enumerate(ids):
                out[cls == int(c), j] = 1.0
            out[cls == 9, 2] = -2.0  # class 9 always wrong: 2 of 3 classes right
            return out

    test = pipeline.many_class_split(profile, "test")
    fake = type(test)(test.targets.to(torch.uint8).reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous(), test.targets, test.classes, "fake")
    monkeypatch.setattr(cg, "many_class_split", lambda p, split: fake)
    monkeypatch.setattr(cg, "sample_class_images",
                        lambda ds, c, n, seed=0: (ds.images[np.isin(ds.targets, c)].float(), ds.targets[np.isin(ds.targets, c)]))
    assert cg.trained_class_accuracy(profile, Oracle(), ids) == pytest.approx(100 * 2 / 3)
