"""Discovery metrics against hand counts; the threshold choice; the streams' seeding and orders."""

import numpy as np
import pytest

from ood_helpers.discovery.experiment import choose_threshold
from ood_helpers.discovery.metrics import accuracy_along, correct_along, new_class_accuracy, stream_metrics
from ood_helpers.discovery.settings import discovery_settings
from ood_helpers.discovery.stream import make_stream, pick_known
from ood_helpers.core.profile import get_profile

# known classes 0, 1; unseen 7, 8 (labels), predictions by hand
LABELS = np.array([0, 0, 1, 1, 7, 7, 7, 8, 8, 8])
PRED = np.array([0, -1, 1, 0, -1, -1, -2, -3, -3, 1])
KNOWN = LABELS < 5


def test_stream_metrics_by_hand():
    m = stream_metrics(LABELS, PRED, KNOWN)
    assert m["known_acc"] == pytest.approx(50.0)  # images 0 and 2 of 4
    # created classes: -1 = {0 (known), 7, 7}, -2 = {7}, -3 = {8, 8}; Hungarian on unseen images of
    # created classes: -1 <-> 7 (2), -3 <-> 8 (2): 4 of the 6 unseen images
    assert m["new_acc"] == pytest.approx(100 * 4 / 6)
    assert m["created"] == 3 and m["true_new"] == 2
    assert m["purity"] == pytest.approx(100 * (2 + 1 + 2) / 6)  # majority counts over the 6 images in created classes
    assert m["merged"] == 1  # -1 holds classes 0 and 7
    assert m["split"] == 1  # class 7 went into -1 and -2; class 8 into -3 only
    assert m["missed_new"] == pytest.approx(100 / 6)  # one unseen image (8) put into known class 1
    assert m["false_new"] == pytest.approx(25.0)  # one known image of 4 put into a created class


def test_known_classes_cannot_be_matched_to_new_ones():
    # every unseen image absorbed by known class 1: nothing discovered, 0 % however consistent
    labels, pred = np.array([0, 7, 7]), np.array([0, 1, 1])
    assert new_class_accuracy(labels, pred, labels < 5) == 0.0
    assert stream_metrics(labels, pred, labels < 5)["missed_new"] == 100.0


def test_correct_along_and_bins():
    ok = correct_along(LABELS, PRED, KNOWN)
    assert ok.tolist() == [True, False, True, False, True, True, False, True, True, False]
    bins = accuracy_along(LABELS, PRED, KNOWN, 2)
    assert [b["all"] for b in bins] == pytest.approx([60.0, 60.0])
    assert bins[0]["known"] == pytest.approx(50.0) and bins[0]["new"] == pytest.approx(100.0)
    assert bins[1]["known"] != bins[1]["known"]  # NaN: no known image in the second half
    assert [b["position"] for b in bins] == [0.5, 1.0]


def test_bad_metric_input():
    with pytest.raises(ValueError, match="same|one non-zero length"):
        stream_metrics(LABELS, PRED[:-1], KNOWN)
    with pytest.raises(ValueError, match=">= 0"):
        stream_metrics(-LABELS - 1, PRED, KNOWN)


def test_choose_threshold_maximises_mean_over_streams():
    rec = [{"method": "m", "threshold": t, "known_acc": k, "new_acc": n}
           for t, k, n in [(0.1, 90, 10), (0.1, 90, 30), (0.2, 80, 50), (0.2, 70, 60), (0.3, 40, 90), (0.3, 30, 90)]]
    # mean criterion: 0.1 -> 55, 0.2 -> 65, 0.3 -> 62.5; min criterion: 0.1 -> 20, 0.2 -> 55, 0.3 -> 35
    assert choose_threshold(rec, "m", "mean") == (0.2, pytest.approx(65.0))
    assert choose_threshold(rec, "m", "min") == (0.2, pytest.approx(55.0))
    tie = [{"method": "m", "threshold": t, "known_acc": 50, "new_acc": 50} for t in (0.5, 0.4)]
    assert choose_threshold(tie, "m", "mean")[0] == 0.4


TARGETS = np.repeat(np.arange(6), 7)  # 6 classes of 7 images


@pytest.mark.parametrize("order", ["shuffled", "blocks"])
def test_stream_seeding_and_memory(order):
    a = make_stream(TARGETS, [0, 1, 2], [4, 5], n_memory=3, order=order, seed=5, block_classes=2)
    b = make_stream(TARGETS, [0, 1, 2], [4, 5], n_memory=3, order=order, seed=5, block_classes=2)
    c = make_stream(TARGETS, [0, 1, 2], [4, 5], n_memory=3, order=order, seed=6, block_classes=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.memory, b.memory)
    assert not np.array_equal(a.images, c.images)
    assert np.bincount(a.memory_labels).tolist() == [3, 3, 3]  # k - 1 per known class, none for unseen
    assert np.bincount(a.labels, minlength=6).tolist() == [4, 4, 4, 0, 7, 7]
    assert not set(a.memory) & set(a.images)  # an exemplar never comes again in the stream
    assert sorted([*a.memory, *a.images]) == sorted(np.flatnonzero(np.isin(TARGETS, [0, 1, 2, 4, 5])))
    np.testing.assert_array_equal(TARGETS[a.images], a.labels)
    assert a.is_known.sum() == 12


def test_blocks_order_keeps_blocks_contiguous():
    st = make_stream(TARGETS, [0, 1, 2, 3], [4, 5], n_memory=2, order="blocks", seed=1, block_classes=2)
    first = {c: np.flatnonzero(st.labels == c).min() for c in np.unique(st.labels)}
    classes = sorted(first, key=first.get)
    for i in range(0, 6, 2):  # each block of 2 classes fills one contiguous stretch
        pos = np.flatnonzero(np.isin(st.labels, classes[i:i + 2]))
        assert pos.max() - pos.min() + 1 == len(pos)
    shuffled = make_stream(TARGETS, [0, 1, 2, 3], [4, 5], n_memory=2, order="shuffled", seed=1)
    assert (np.diff(shuffled.labels) != 0).sum() > (np.diff(st.labels) != 0).sum()


def test_stream_bad_input():
    with pytest.raises(ValueError, match="overlap"):
        make_stream(TARGETS, [0, 1], [1, 2], n_memory=2, order="shuffled", seed=0)
    with pytest.raises(ValueError, match="needs more than n_memory"):
        make_stream(TARGETS, [0], [1], n_memory=7, order="shuffled", seed=0)
    with pytest.raises(ValueError, match="order"):
        make_stream(TARGETS, [0], [1], n_memory=2, order="random", seed=0)


def test_pick_known():
    assert pick_known(np.arange(10), 0, 3).tolist() == list(range(10))
    a = pick_known(np.arange(10), 4, 3)
    assert len(set(a)) == 4 and a.tolist() == pick_known(np.arange(10), 4, 3).tolist()


def test_settings_refuse_bad_values():
    p = get_profile("smoke", extra={"discovery": {"orders": ["sorted"]}})
    with pytest.raises(ValueError, match="orders"):
        discovery_settings(p)
    with pytest.raises(ValueError, match="unknown discovery setting"):
        discovery_settings(get_profile("smoke", extra={"discovery": {"stream": 2}}))
    assert discovery_settings(get_profile("quick", extra={"discovery": {"streams": 5}})).streams == 5
