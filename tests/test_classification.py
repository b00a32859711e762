"""OOD classification (eq. 1): sampling, the batched evaluator against a naive loop, top-k."""

import numpy as np
import pytest
import torch
from sklearn.metrics import top_k_accuracy_score
from torch import nn

from ood_helpers.embed import encode_images
from ood_helpers.evaluate import classification as clf
from ood_helpers.models import HomogeneityModel


def _toy_data(classes=4, per_class=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    targets = np.repeat(np.arange(classes), per_class)
    # Class-dependent mean so the scores are not all alike.
    images = torch.rand(len(targets), 1, 6, 6, generator=gen) * 0.5 + torch.as_tensor(targets)[:, None, None, None] / classes
    return images, targets


def _toy_model(seed=0):
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 8))
    return HomogeneityModel(encoder, embed_dim=8, layers=1, heads=2, head_dim=4)


# ===== sampling =====


def test_supports_never_contain_the_query_and_belong_to_their_class():
    _, targets = _toy_data(classes=5, per_class=6)
    rng = np.random.default_rng(1)
    ep = clf.sample_episodes(targets, np.arange(5), n_supports=5, queries_per_class=6, rng=rng)
    assert ep.supports.shape == (30, 5, 5)
    for i, q in enumerate(ep.queries):
        assert q not in ep.supports[i]
        for j, c in enumerate(ep.candidates):
            assert (targets[ep.supports[i, j]] == c).all()
            assert len(set(ep.supports[i, j])) == 5  # without replacement
    # k - 1 = n - 1 supports: the own-class set is exactly "every other image of the class".
    for i, q in enumerate(ep.queries):
        own = ep.supports[i, ep.true_columns[i]]
        assert set(own) == set(np.flatnonzero(targets == targets[q])) - {q}


def test_supports_are_uniform_over_the_class():
    _, targets = _toy_data(classes=2, per_class=10)
    rng = np.random.default_rng(2)
    queries = np.array([0] * 4000)
    sup = clf.sample_supports(targets, queries, np.array([0]), 3, rng)
    counts = np.bincount(sup.ravel(), minlength=10)
    assert counts[0] == 0
    # 12000 draws over 9 images: each expected 1333.3; a binomial 5-sigma band.
    expected, sigma = 12000 / 9, np.sqrt(12000 * (1 / 9) * (8 / 9))
    assert np.all(np.abs(counts[1:] - expected) < 5 * sigma), counts


def test_queries_per_class_and_all_when_fewer():
    _, targets = _toy_data(classes=3, per_class=4)
    rng = np.random.default_rng(0)
    q = clf.sample_queries(targets, [2, 0], 3, rng)
    assert len(q) == 6 and list(targets[q]) == [2, 2, 2, 0, 0, 0] and len(set(q)) == 6
    q = clf.sample_queries(targets, [1], 10, rng)
    assert sorted(q) == list(np.flatnonzero(targets == 1))


def test_same_seed_same_episodes():
    _, targets = _toy_data()
    a = clf.sample_episodes(targets, np.arange(4), n_supports=3, queries_per_class=2, rng=np.random.default_rng(5))
    b = clf.sample_episodes(targets, np.arange(4), n_supports=3, queries_per_class=2, rng=np.random.default_rng(5))
    c = clf.sample_episodes(targets, np.arange(4), n_supports=3, queries_per_class=2, rng=np.random.default_rng(6))
    assert np.array_equal(a.supports, b.supports) and np.array_equal(a.queries, b.queries)
    assert not np.array_equal(a.supports, c.supports)


def test_too_few_images_for_k_minus_1_supports_is_refused():
    _, targets = _toy_data(classes=3, per_class=4)
    with pytest.raises(ValueError, match=r"fewer than k - 1 \+ 1 = 5 images.*k - 1 = 4"):
        clf.sample_episodes(targets, np.arange(3), n_supports=4, queries_per_class=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive int"):
        clf.check_support_counts(targets, [0], 0)


# ===== the batched evaluator equals the naive loop =====


@pytest.mark.parametrize("scorer", ["position0", "logits", "probs"])
def test_batched_evaluator_equals_naive_loop(scorer):
    images, targets = _toy_data(classes=4, per_class=7)
    model = _toy_model()
    model.train()  # the evaluators must switch dropout and batch-norm to eval themselves
    ep = clf.sample_episodes(targets, np.arange(4), n_supports=4, queries_per_class=3, rng=np.random.default_rng(3))
    emb = encode_images(model, images, batch_size=5)
    score_sets = {"position0": None, "logits": model.set_logits, "probs": model.score_embeddings}[scorer]
    batched = clf.homogeneity_scores(model, emb, ep, score_sets=score_sets, batch_sets=7)
    assert model.training
    naive = clf.naive_homogeneity_scores(model, images, ep)
    probs = batched if scorer == "probs" else torch.sigmoid(batched)
    torch.testing.assert_close(probs, naive, rtol=1e-4, atol=1e-5)
    assert torch.equal(batched.argmax(1), naive.argmax(1))
    assert naive.std() > 1e-3  # the comparison is not between constant outputs


def test_homogeneity_scores_use_position_zero_of_supports_then_query():
    # A scorer that reports, at position 0, the mean of the query's embedding (last position).
    emb = torch.arange(10, dtype=torch.float32)[:, None]
    ep = clf.Episodes(np.array([3, 7]), np.array([0, 1]), np.array([0, 1]),
                      np.array([[[0, 1], [5, 6]], [[2, 4], [8, 9]]]))

    def score_sets(e, lengths):
        assert (lengths == 3).all()
        out = torch.zeros(e.shape[:2])
        out[:, 0] = e[:, -1, 0] * 100 + e[:, :-1, 0].sum(1)
        return out

    got = clf.homogeneity_scores(None, emb, ep, score_sets=score_sets, batch_sets=3)
    assert got.tolist() == [[301.0, 311.0], [706.0, 717.0]]


# ===== classifiers and top-k =====


def test_classifier_scores_map_model_outputs_to_candidates():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3]])
    ep = clf.Episodes(np.array([1, 0]), np.array([7, 3]), np.array([3, 9, 7]), np.zeros((2, 3, 1), dtype=int))
    got = clf.classifier_scores(logits, [7, 3, 5], ep)  # output m is class model_classes[m]
    assert got[0].tolist() == [pytest.approx(0.2), float("-inf"), 0.5]
    assert got[1].tolist() == [pytest.approx(0.9), float("-inf"), pytest.approx(0.1)]


def test_topk_accuracy_against_a_hand_count():
    scores = torch.tensor([[0.9, 0.1, 0.0, 0.3],   # true 0: top-1 yes
                           [0.2, 0.1, 0.8, 0.5],   # true 3: 2nd best -> top-2 yes, top-1 no
                           [0.1, 0.2, 0.3, 0.4],   # true 0: last -> only top-4
                           [0.5, 0.6, 0.4, 0.0]])  # true 2: 3rd best
    true = [0, 3, 0, 2]
    assert clf.topk_accuracy(scores, true, 1) == 1 / 4
    assert clf.topk_accuracy(scores, true, 2) == 2 / 4
    assert clf.topk_accuracy(scores, true, 3) == 3 / 4
    assert clf.topk_accuracy(scores, true, 5) == 1.0  # k above the class count = every class


def test_topk_accuracy_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 12))
    true = rng.integers(0, 12, size=200)
    for k in (1, 3, 5):
        ours = clf.topk_accuracy(torch.tensor(scores), true, k)
        assert ours == pytest.approx(top_k_accuracy_score(true, scores, k=k, labels=np.arange(12)))


def test_restrict_keeps_range_queries_and_columns():
    ep = clf.Episodes(np.arange(4), np.array([5, 6, 7, 6]), np.array([5, 6, 7]), np.zeros((4, 3, 1), dtype=int))
    scores = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    sub, true = clf.restrict(scores, ep, [7, 6])
    assert sub.tolist() == [[5.0, 4.0], [8.0, 7.0], [11.0, 10.0]]
    assert true.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match=r"classes \[8\] were not compared against"):
        clf.restrict(scores, ep, [8])


def test_bad_topk_input_is_refused():
    with pytest.raises(ValueError, match="positive int"):
        clf.topk_accuracy(torch.zeros(2, 3), [0, 1], 0)
    with pytest.raises(ValueError, match=r"true columns must lie in \[0, 3\)"):
        clf.topk_accuracy(torch.zeros(2, 3), [0, 3], 1)


def test_position0_logits_equal_set_logits_with_padding():
    model = _toy_model(seed=1).eval()
    emb = torch.randn(6, 5, 8)
    lengths = torch.tensor([5, 2, 3, 5, 1, 4])
    with torch.no_grad():
        full = model.set_logits(emb, lengths)
        fast = clf.position0_logits(model, emb, lengths)
    torch.testing.assert_close(fast[:, 0], full[:, 0], rtol=1e-5, atol=1e-6)


# ===== trials, tables, model checks =====

from ood_helpers.data import ImageSet, class_split  # noqa: E402
from ood_helpers.evaluate.neighbors import mean_support_scores  # noqa: E402
from ood_helpers.profiles import get_profile  # noqa: E402


def _tiny_models(profile, channels=1, width=None):
    width = width or profile.resnet_width
    torch.manual_seed(0)

    def encoder():
        return nn.Sequential(nn.Conv2d(channels, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())

    hom = HomogeneityModel(encoder(), embed_dim=4 * width, layers=1, heads=2, head_dim=4)
    classifier = nn.Sequential(encoder(), nn.Linear(4 * width, 3))
    return clf.Models(profile=profile.name, homogeneity=hom, pretrained=encoder(),
                      classifiers={clf.M_ALL: (classifier, np.array([2, 0, 1]))},
                      keys={"finetuned": "hom", "pretrained": "pre", clf.M_ALL: "all"})


def _toy_imageset(classes=3, per_class=6, seed=0):
    images, targets = _toy_data(classes, per_class, seed)
    return ImageSet((images.clamp(0, 1) * 255).to(torch.uint8), targets, [f"c{i}" for i in range(classes)], "toy")


def test_score_trial_scores_every_method_on_the_same_supports():
    profile = get_profile("smoke", queries_per_class=2)  # k = 5: 4 supports
    models = _tiny_models(profile)
    ds = _toy_imageset()
    feats = clf.dataset_features(models, ds, profile)
    ts = clf.score_trial(models, feats, [0, 1, 2], profile=profile, rng=np.random.default_rng(7))
    # Replay the same draws: queries first, then the supports of all queries (one chunk).
    rng = np.random.default_rng(7)
    queries = clf.sample_queries(feats.targets, [0, 1, 2], 2, rng)
    ep = clf.Episodes(queries, feats.targets[queries], np.array([0, 1, 2]),
                      clf.sample_supports(feats.targets, queries, [0, 1, 2], 4, rng))
    assert np.array_equal(ts.queries, queries)
    naive = clf.naive_homogeneity_scores(models.homogeneity, ds.float_images(), ep)
    assert torch.equal(ts.scores[clf.M_HOM].argmax(1), naive.argmax(1))
    torch.testing.assert_close(torch.sigmoid(ts.scores[clf.M_HOM]), naive, rtol=1e-4, atol=1e-5)
    flat = ds.float_images().reshape(len(ds), -1)
    torch.testing.assert_close(ts.scores[clf.M_NN_IMAGE], mean_support_scores(flat, queries, ep.supports, metric="euclidean"))
    with torch.no_grad():
        pre = models.pretrained(ds.float_images())
        logits = models.classifiers[clf.M_ALL][0](ds.float_images())
    torch.testing.assert_close(ts.scores[clf.M_NN_COS_PRE], mean_support_scores(pre, queries, ep.supports, metric="cosine"))
    # Classifier output m is class [2, 0, 1][m]: candidate 0 is output 1.
    torch.testing.assert_close(ts.scores[clf.M_ALL][:, 0], logits[queries, 1])
    assert set(ts.scores) == {clf.M_ALL, *clf.NN_METHODS, clf.M_HOM}


def test_range_records_against_a_hand_count():
    split = class_split(6, counts=(2, 2, 2))  # seen / val / test: two classes each
    cands = split.range("all")
    labels = np.array([cands[0], cands[1], cands[2], cands[4], cands[5]])
    scores = torch.zeros(5, 6)
    scores[0, 0] = scores[1, 3] = scores[2, 2] = scores[3, 4] = scores[4, 0] = 1.0  # right: queries 0, 2, 3
    ts = clf.TrialScores(np.arange(5), labels, cands, {clf.M_HOM: scores, clf.M_SEEN: scores})
    names = {"seen": "S", "val": "V", "test": "T", "all": "A"}
    got = {(r["method"], r["metric"], r["range"]): r["accuracy"] for r in clf.range_records(ts, split, names, 0, ks=(1,))}
    assert got[(clf.M_HOM, "top-1", "S")] == 1 / 2
    assert got[(clf.M_HOM, "top-1", "V")] == 1.0
    assert got[(clf.M_HOM, "top-1", "T")] == 1 / 2
    assert got[(clf.M_HOM, "top-1", "A")] == 3 / 5
    assert (clf.M_SEEN, "top-1", "V") not in got  # the seen-class classifier: seen range only
    with pytest.raises(ValueError, match="unknown class range 'unseen'"):
        clf.range_accuracy(scores, ts, split, "unseen")
    with pytest.raises(ValueError, match="test range size must be an int in"):
        clf.growing_range_records(ts, split, [3], 0)


def test_models_from_another_profile_are_refused():
    smoke = get_profile("smoke")
    ds = _toy_imageset()
    with pytest.raises(ValueError, match="trained for profile 'smoke', not 'quick'"):
        clf.check_models(_tiny_models(smoke), get_profile("quick"))
    with pytest.raises(ValueError, match="a model from another profile"):
        clf.dataset_features(_tiny_models(smoke, width=16), ds, smoke)
    with pytest.raises(ValueError, match="3-channel images, the models expect 1"):
        rgb = ImageSet(ds.images.repeat(1, 3, 1, 1), ds.targets, ds.classes, "rgb")
        clf.check_models(_tiny_models(smoke), smoke, rgb)


def test_ordering_agreement_counts_pairs_and_ranks():
    import pandas as pd

    summary = pd.DataFrame({"method": ["a", "b", "c", clf.M_HOM], "col": ["x"] * 4,
                            "mean": [1.0, 3.0, 2.0, 4.0], "paper": [1.0, 2.0, 3.0, float("nan")]})
    out = clf.ordering_agreement(summary, "col", focus="c")
    row = out.iloc[0]
    assert row["pairs in the paper's order"] == "2 of 3"  # (a,b), (a,c) agree; (b,c) flips
    assert row["best (ours)"] == "b" and row["best (paper)"] == "c"
    assert row["rank of c (ours / paper)"] == "2 / 1"
    assert row["kendall_tau"] == pytest.approx(1 / 3)
    assert "2 of 3 method pairs" in clf.describe_agreement(out, "col", focus="c")


def test_confusion_figure_shows_row_normalised_counts():
    from ood_helpers.plots.confusion import confusion_figure

    fig = confusion_figure([5, 5, 7, 9], [5, 7, 7, 9], [5, 7, 9], names=["five", "seven", "nine"])
    shown = np.asarray(fig.axes[0].collections[0].get_array()).reshape(3, 3)
    np.testing.assert_allclose(shown, [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"classes \[8\] occur in y_true / y_pred but not in labels"):
        confusion_figure([5], [8], [5, 7])
