"""OOD classification (eq. 1): sampling, the batched evaluator against a naive loop, top-k,
chunked and sharded trials, the trial cache and the records of Tables 1-3."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import top_k_accuracy_score
from torch import nn

from ood_helpers.core.data import ImageSet, class_split
from ood_helpers.core.embed import encode_images
from ood_helpers.homogeneity import classification as clf
from ood_helpers.homogeneity import classification_tables as ct
from ood_helpers.homogeneity import episodes as eps
from ood_helpers.homogeneity import scorers
from ood_helpers.homogeneity.neighbors import mean_support_scores
from ood_helpers.homogeneity.paper_values import M_ALL, M_HOM, M_NN_COS_PRE, M_NN_IMAGE, M_OWN, M_SEEN, NN_METHODS
from ood_helpers.homogeneity.model import HomogeneityModel
from ood_helpers.core.profile import get_profile
from ood_helpers.core.seeding import seed_everything, trial_seed
from ood_helpers.homogeneity.settings import homogeneity_settings

from tests.support import profile_with


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


def _naive_probs(model, images, episodes):
    """Probabilities [Q, C] from the full model's forward, one set of raw images at a time."""
    was_training = model.training
    model.eval()
    out = torch.empty(episodes.supports.shape[:2])
    with torch.no_grad():
        for i, q in enumerate(episodes.queries):
            for j in range(len(episodes.candidates)):
                members = np.append(episodes.supports[i, j], q)
                out[i, j] = model(images[torch.as_tensor(members)][None], torch.tensor([len(members)]))[0, 0]
    model.train(was_training)
    return out


def _old_sample_supports(targets, queries, candidates, n_supports, rng):
    """The sampler before class pools were precomputed (one candidate at a time): the reference."""
    out = np.empty((len(queries), len(candidates), n_supports), dtype=np.int64)
    for j, c in enumerate(candidates):
        pool = np.flatnonzero(targets == c)
        keys = rng.random((len(queries), len(pool)))
        keys[queries[:, None] == pool[None, :]] = 2.0
        out[:, j] = pool[np.argpartition(keys, n_supports - 1, axis=1)[:, :n_supports]]
    return out


# ===== sampling =====


@pytest.mark.parametrize("max_keys", [1 << 24, 70])  # one block of keys, or 2 queries a block
def test_supports_never_contain_the_query_and_belong_to_their_class(max_keys):
    _, targets = _toy_data(classes=5, per_class=6)
    rng = np.random.default_rng(1)
    queries = eps.sample_queries(targets, np.arange(5), 6, rng)
    ep = eps.Episodes(queries, targets[queries], np.arange(5),
                      eps.sample_supports(targets, queries, np.arange(5), 5, rng, max_keys=max_keys))
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
    sup = eps.sample_supports(targets, queries, np.array([0]), 3, rng)
    counts = np.bincount(sup.ravel(), minlength=10)
    assert counts[0] == 0
    # 12000 draws over 9 images: each expected 1333.3; a binomial 5-sigma band.
    expected, sigma = 12000 / 9, np.sqrt(12000 * (1 / 9) * (8 / 9))
    assert np.all(np.abs(counts[1:] - expected) < 5 * sigma), counts


def test_queries_without_replacement_up_to_the_class_size():
    _, targets = _toy_data(classes=3, per_class=4)
    q = eps.sample_queries(targets, [2, 0], 3, np.random.default_rng(0))
    assert len(q) == 6 and list(targets[q]) == [2, 2, 2, 0, 0, 0] and len(set(q)) == 6
    q = eps.sample_queries(targets, [1], 4, np.random.default_rng(0))
    assert sorted(q) == list(np.flatnonzero(targets == 1))


@pytest.mark.parametrize("per_class", [5, 9, 11, 30])
def test_queries_beyond_the_class_size_repeat_every_image(per_class):
    _, targets = _toy_data(classes=3, per_class=4)
    q = eps.sample_queries(targets, [1, 2], per_class, np.random.default_rng(3))
    assert len(q) == 2 * per_class
    assert list(targets[q]) == [1] * per_class + [2] * per_class
    for c in (1, 2):
        counts = np.bincount(q[targets[q] == c], minlength=len(targets))[targets == c]
        assert counts.sum() == per_class
        assert counts.min() >= per_class // 4 and counts.max() <= -(-per_class // 4)  # balanced: floor..ceil


def test_same_seed_same_episodes():
    _, targets = _toy_data()
    a = eps.sample_episodes(targets, np.arange(4), n_supports=3, queries_per_class=2, rng=np.random.default_rng(5))
    b = eps.sample_episodes(targets, np.arange(4), n_supports=3, queries_per_class=2, rng=np.random.default_rng(5))
    c = eps.sample_episodes(targets, np.arange(4), n_supports=3, queries_per_class=2, rng=np.random.default_rng(6))
    assert np.array_equal(a.supports, b.supports) and np.array_equal(a.queries, b.queries)
    assert not np.array_equal(a.supports, c.supports)


def test_precomputed_pools_draw_the_old_samplers_supports():
    # Equal class sizes: the very same supports in the same order as the per-candidate sampler.
    _, targets = _toy_data(classes=5, per_class=9)
    np.random.default_rng(0).shuffle(targets)
    queries = np.array([0, 3, 3, 17, 40, 22])
    cands = np.array([4, 0, 2])
    new = eps.sample_supports(targets, queries, cands, 4, np.random.default_rng(11))
    old = _old_sample_supports(targets, queries, cands, 4, np.random.default_rng(11))
    assert np.array_equal(new, old)
    # Unequal class sizes (padded pools): the same support sets; their order inside a set may differ.
    targets = np.concatenate([np.zeros(6), np.ones(11), np.full(8, 2)]).astype(np.int64)
    np.random.default_rng(1).shuffle(targets)
    queries = np.arange(25)
    new = eps.sample_supports(targets, queries, np.array([2, 1, 0]), 5, np.random.default_rng(4))
    old = _old_sample_supports(targets, queries, np.array([2, 1, 0]), 5, np.random.default_rng(4))
    assert np.array_equal(np.sort(new, axis=2), np.sort(old, axis=2))


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937])
def test_skipping_supports_leaves_the_generator_where_drawing_does(bit_generator):
    _, targets = _toy_data(classes=4, per_class=7)
    pools = eps.ClassPools.of(targets)
    drawn, sliced, skipped = (np.random.Generator(bit_generator(5)) for _ in range(3))
    eps.sample_supports(targets, np.arange(9), np.arange(4), 3, drawn, pools)
    eps.sample_supports(targets, np.arange(9), np.arange(4), 3, sliced, pools, max_keys=60)  # 2 queries a slice
    eps.skip_supports(9, np.arange(4), pools, skipped)
    after = drawn.random(5)
    assert np.array_equal(after, skipped.random(5)) and np.array_equal(after, sliced.random(5))


def test_columns_of_matches_a_dict_lookup():
    rng = np.random.default_rng(0)
    cands = rng.permutation(50)[:20]
    classes = rng.integers(0, 50, size=100)
    lookup = {int(c): j for j, c in enumerate(cands)}
    assert eps.columns_of(classes, cands).tolist() == [lookup.get(int(c), -1) for c in classes]
    assert eps.columns_of([3], []).tolist() == [-1]


def test_too_few_images_for_k_minus_1_supports_is_refused():
    _, targets = _toy_data(classes=3, per_class=4)
    with pytest.raises(ValueError, match=r"fewer than k - 1 \+ 1 = 5 images.*k - 1 = 4"):
        eps.sample_episodes(targets, np.arange(3), n_supports=4, queries_per_class=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive int"):
        eps.check_support_counts(targets, [0], 0)
    with pytest.raises(ValueError, match="queries per class must be a positive int"):
        eps.sample_queries(targets, [0], 0, np.random.default_rng(0))


# ===== the batched evaluator equals the naive loop =====


@pytest.mark.parametrize("scorer", ["position0", "logits"])
def test_batched_evaluator_equals_naive_loop(scorer):
    images, targets = _toy_data(classes=4, per_class=7)
    model = _toy_model()
    model.train()  # the evaluators must switch dropout and batch-norm to eval themselves
    ep = eps.sample_episodes(targets, np.arange(4), n_supports=4, queries_per_class=3, rng=np.random.default_rng(3))
    emb = encode_images(model, images, batch_size=5)
    score_sets = {"position0": None, "logits": model.set_logits}[scorer]
    batched = scorers.homogeneity_scores(model, emb, ep, score_sets=score_sets, batch_sets=7)
    assert model.training
    naive = _naive_probs(model, images, ep)
    torch.testing.assert_close(torch.sigmoid(batched), naive, rtol=1e-4, atol=1e-5)
    assert torch.equal(batched.argmax(1), naive.argmax(1))
    assert naive.std() > 1e-3  # the comparison is not between constant outputs


def test_homogeneity_scores_use_position_zero_of_supports_then_query():
    # A scorer that reports, at position 0, the mean of the query's embedding (last position).
    emb = torch.arange(10, dtype=torch.float32)[:, None]
    ep = eps.Episodes(np.array([3, 7]), np.array([0, 1]), np.array([0, 1]),
                      np.array([[[0, 1], [5, 6]], [[2, 4], [8, 9]]]))

    def score_sets(e, lengths):
        assert (lengths == 3).all()
        out = torch.zeros(e.shape[:2])
        out[:, 0] = e[:, -1, 0] * 100 + e[:, :-1, 0].sum(1)
        return out

    got = scorers.homogeneity_scores(None, emb, ep, score_sets=score_sets, batch_sets=3)
    assert got.tolist() == [[301.0, 311.0], [706.0, 717.0]]
    with pytest.raises(ValueError, match="batch_sets .* must be a positive int"):
        scorers.HomogeneityScorer(None, emb, score_sets=score_sets, batch_sets=0)
    with pytest.raises(TypeError, match="has no set_logits"):
        scorers.set_scorer(nn.Linear(2, 2))


def test_position0_logits_equal_set_logits_with_padding():
    model = _toy_model(seed=1).eval()
    emb = torch.randn(6, 5, 8)
    lengths = torch.tensor([5, 2, 3, 5, 1, 4])
    with torch.no_grad():
        full = model.set_logits(emb, lengths)
        fast = scorers.position0_logits(model, emb, lengths)
    torch.testing.assert_close(fast[:, 0], full[:, 0], rtol=1e-5, atol=1e-6)


# ===== classifiers and top-k =====


def test_classifier_scores_map_model_outputs_to_candidates():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3]])
    ep = eps.Episodes(np.array([1, 0]), np.array([7, 3]), np.array([3, 9, 7]), np.zeros((2, 3, 1), dtype=int))
    got = scorers.classifier_scores(logits, [7, 3, 5], ep)  # output m is class model_classes[m]
    assert got[0].tolist() == [pytest.approx(0.2), float("-inf"), 0.5]
    assert got[1].tolist() == [pytest.approx(0.9), float("-inf"), pytest.approx(0.1)]
    assert logits[0, 0].item() == pytest.approx(0.1)  # the logits themselves are left alone


def test_topk_accuracy_against_a_hand_count():
    scores = torch.tensor([[0.9, 0.1, 0.0, 0.3],   # true 0: top-1 yes
                           [0.2, 0.1, 0.8, 0.5],   # true 3: 2nd best -> top-2 yes, top-1 no
                           [0.1, 0.2, 0.3, 0.4],   # true 0: last -> only top-4
                           [0.5, 0.6, 0.4, 0.0]])  # true 2: 3rd best
    true = [0, 3, 0, 2]
    assert ct.topk_accuracy(scores, true, 1) == 1 / 4
    assert ct.topk_accuracy(scores, true, 2) == 2 / 4
    assert ct.topk_accuracy(scores, true, 3) == 3 / 4
    assert ct.topk_accuracy(scores, true, 5) == 1.0  # k above the class count = every class


def test_topk_accuracy_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 12))
    true = rng.integers(0, 12, size=200)
    for k in (1, 3, 5):
        ours = ct.topk_accuracy(torch.tensor(scores), true, k)
        assert ours == pytest.approx(top_k_accuracy_score(true, scores, k=k, labels=np.arange(12)))


def test_restrict_keeps_range_queries_and_columns():
    ep = eps.Episodes(np.arange(4), np.array([5, 6, 7, 6]), np.array([5, 6, 7]), np.zeros((4, 3, 1), dtype=int))
    scores = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    sub, true = ct.restrict(scores, ep, [7, 6])
    assert sub.tolist() == [[5.0, 4.0], [8.0, 7.0], [11.0, 10.0]]
    assert true.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match=r"classes \[8\] were not compared against"):
        ct.restrict(scores, ep, [8])


def test_bad_topk_input_is_refused():
    with pytest.raises(ValueError, match="positive int"):
        ct.topk_accuracy(torch.zeros(2, 3), [0, 1], 0)
    with pytest.raises(ValueError, match=r"true columns must lie in \[0, 3\)"):
        ct.topk_accuracy(torch.zeros(2, 3), [0, 3], 1)


# ===== records of Tables 1-2 =====


def _hand_trial():
    split = class_split(6, counts=(2, 2, 2))  # seen / val / test: two classes each
    cands = split.range("all")
    labels = np.array([cands[0], cands[1], cands[2], cands[4], cands[5]])
    scores = torch.zeros(5, 6)
    scores[0, 0] = scores[1, 3] = scores[2, 2] = scores[3, 4] = scores[4, 0] = 1.0  # right: queries 0, 2, 3
    scores[4, 4] = 0.5  # query 4 (class c5) is wrong among the test classes too
    return split, clf.TrialScores(np.arange(5), labels, cands, {M_HOM: scores, M_SEEN: scores})


def test_range_records_against_a_hand_count():
    split, ts = _hand_trial()
    names = {"seen": "S", "val": "V", "test": "T", "all": "A"}
    got = {(r["method"], r["metric"], r["range"]): r["accuracy"] for r in ct.range_records(ts, split, names, 0, ks=(1,))}
    assert got[(M_HOM, "top-1", "S")] == 1 / 2
    assert got[(M_HOM, "top-1", "V")] == 1.0
    assert got[(M_HOM, "top-1", "T")] == 1 / 2
    assert got[(M_HOM, "top-1", "A")] == 3 / 5
    assert (M_SEEN, "top-1", "V") not in got  # the seen-class classifier: seen range only
    # Table 2 on the test classes [c4, c5]: query 3 (c4) right, query 4 (c5) wrong; only c4 in "5-5".
    growing = {r["range"]: r["accuracy"] for r in ct.growing_range_records(ts, split, [1, 2], 0)}
    assert growing == {"5-5": 1.0, "5-6": 1 / 2}
    with pytest.raises(ValueError, match="test range size must be an int in"):
        ct.growing_range_records(ts, split, [3], 0)
    no_val = clf.TrialScores(ts.queries[[0, 3]], ts.labels[[0, 3]], ts.candidates, {M_HOM: ts.scores[M_HOM][[0, 3]]})
    with pytest.raises(ValueError, match=r"no query belongs to column \{'metric': 'top-1', 'range': 'V'\}"):
        ct.range_records(no_val, split, names, 0, ks=(1,))


def test_counts_summed_over_chunks_equal_the_whole_trial():
    rng = np.random.default_rng(0)
    split = class_split(9, counts=(3, 3, 3))
    cands = split.range("all")
    labels = rng.choice(cands, size=40)
    ts = clf.TrialScores(np.arange(40), labels, cands, {"a": torch.randn(40, 9), "b": torch.randn(40, 9)})
    columns = ct.table1_columns(split, {"seen": "S", "val": "V", "test": "T", "all": "A"}) + ct.table2_columns(split, [2, 3])
    halves = [clf.TrialScores(ts.queries[s], labels[s], cands, {m: v[s] for m, v in ts.scores.items()})
              for s in (slice(0, 17), slice(17, 40))]
    total = sum(ct.count_correct(h, columns) for h in halves)
    assert np.array_equal(total, ct.count_correct(ts, columns))
    # By hand: top-5 of method "a" over every query, and top-1 of "b" on the first 2 test classes alone.
    top5 = np.mean([labels[i] in cands[np.argsort(-ts.scores["a"][i].numpy())[:5]] for i in range(40)])
    rows = np.flatnonzero(np.isin(labels, split.test[:2]))
    cols = [int(np.flatnonzero(cands == c)[0]) for c in split.test[:2]]
    top1 = np.mean([split.test[:2][ts.scores["b"][i, cols].argmax()] == labels[i] for i in rows])
    acc = {(r["method"], r.get("metric"), r["range"]): r["accuracy"]
           for r in ct.records_from_counts(total, ["a", "b"], columns)}
    assert acc[("a", "top-5", "A")] == pytest.approx(top5)
    assert acc[("b", None, ct.test_range_labels(split, [2])[0])] == pytest.approx(top1)


# ===== trials: every method on the same supports, chunks, ranks, cache =====


def _tiny_models(profile, channels=1, width=None, classes=(2, 0, 1)):
    width = width or profile.resnet_width
    torch.manual_seed(0)

    def encoder():
        return nn.Sequential(nn.Conv2d(channels, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())

    hom = HomogeneityModel(encoder(), embed_dim=4 * width, layers=1, heads=2, head_dim=4)
    classifier = nn.Sequential(encoder(), nn.Linear(4 * width, len(classes)))
    return clf.Models(profile=profile.name, homogeneity=hom, pretrained=encoder(),
                      classifiers={M_ALL: (classifier, np.array(classes))},
                      keys={"finetuned": "hom", "pretrained": "pre", M_ALL: "all"})


def _toy_imageset(classes=3, per_class=6, seed=0):
    images, targets = _toy_data(classes, per_class, seed)
    return ImageSet((images.clamp(0, 1) * 255).to(torch.uint8), targets, [f"c{i}" for i in range(classes)], "toy")


def test_score_trial_scores_every_method_on_the_same_supports():
    profile = profile_with("smoke", queries_per_class=2)  # k = 5: 4 supports
    models = _tiny_models(profile)
    ds = _toy_imageset()
    feats = clf.dataset_features(models, ds, profile)
    ts = clf.score_trial(models, feats, [0, 1, 2], profile=profile, rng=np.random.default_rng(7))
    # Replay the same draws: queries first, then the supports of all queries (one chunk).
    rng = np.random.default_rng(7)
    queries = eps.sample_queries(feats.targets, [0, 1, 2], 2, rng)
    ep = eps.Episodes(queries, feats.targets[queries], np.array([0, 1, 2]),
                      eps.sample_supports(feats.targets, queries, [0, 1, 2], 4, rng))
    assert np.array_equal(ts.queries, queries)
    naive = _naive_probs(models.homogeneity, ds.float_images(), ep)
    assert torch.equal(ts.scores[M_HOM].argmax(1), naive.argmax(1))
    torch.testing.assert_close(torch.sigmoid(ts.scores[M_HOM]), naive, rtol=1e-4, atol=1e-5)
    flat = ds.float_images().reshape(len(ds), -1)
    torch.testing.assert_close(ts.scores[M_NN_IMAGE], mean_support_scores(flat, queries, ep.supports, metric="euclidean"))
    with torch.no_grad():
        pre = models.pretrained(ds.float_images())
        logits = models.classifiers[M_ALL][0](ds.float_images())
    torch.testing.assert_close(ts.scores[M_NN_COS_PRE], mean_support_scores(pre, queries, ep.supports, metric="cosine"))
    # Classifier output m is class [2, 0, 1][m]: candidate 0 is output 1.
    torch.testing.assert_close(ts.scores[M_ALL][:, 0], logits[queries, 1])
    assert set(ts.scores) == {M_ALL, *NN_METHODS, M_HOM}


def _support_fingerprint(ep):
    """A scorer whose scores are the supports' index sums: equal scores mean equal supports."""
    return torch.as_tensor(ep.supports.sum(axis=2), dtype=torch.float32)


def test_sharded_chunks_union_equals_the_unsharded_scores():
    images, targets = _toy_data(classes=5, per_class=8)
    emb = images.reshape(len(images), -1)
    from ood_helpers.homogeneity.neighbors import NearestNeighbourScorer

    methods = {"supports": _support_fingerprint, "nn": NearestNeighbourScorer(emb, "cosine")}
    queries = eps.sample_queries(targets, np.arange(5), 11, np.random.default_rng(0))  # 11 > 8: repeats

    def run(rank, world):
        return clf.score_chunks(methods, targets, queries, np.arange(5), n_supports=3, rng=np.random.default_rng(9),
                                rank=rank, world_size=world, chunk_sets=60)  # 4 queries a chunk

    whole, parts = run(0, 1), [run(0, 2), run(1, 2)]
    assert len(whole) == 14 and sorted(parts[0]) == list(range(0, 14, 2)) and sorted(parts[1]) == list(range(1, 14, 2))
    union = {**parts[0], **parts[1]}
    for i, ts in whole.items():
        assert np.array_equal(union[i].queries, ts.queries)
        for m in methods:
            assert torch.equal(union[i].scores[m], ts.scores[m])
    # and the chunks are those of one pass over all queries
    flat = eps.sample_supports(targets, queries[:4], np.arange(5), 3, np.random.default_rng(9))
    assert torch.equal(whole[0].scores["supports"], torch.as_tensor(flat.sum(axis=2), dtype=torch.float32))
    with pytest.raises(ValueError, match=r"rank must lie in \[0, world_size = 2\)"):
        run(2, 2)


def test_many_class_trials_are_cached_and_not_scored_again(monkeypatch):
    profile = get_profile("smoke", trials=2)
    models = _tiny_models(profile, classes=tuple(range(12)))
    first = clf.evaluate_many_class(profile, models, progress=False)
    assert {r["trial"] for r in first.table1} == {0, 1}
    queries = homogeneity_settings(profile).queries_per_class
    assert len(first.confusion_true) == 2 * 2 * queries  # 2 test classes, 2 trials
    assert set(first.confusion_pred) <= set(class_split(profile).test)

    def refuse(*args, **kwargs):
        raise AssertionError("a cached trial was scored again")

    monkeypatch.setattr(clf, "run_trial", refuse)
    monkeypatch.setattr(clf, "dataset_features", refuse)
    again = clf.evaluate_many_class(profile, models, progress=False)
    assert again.table1 == first.table1 and again.table2 == first.table2 and again.seeds == first.seeds
    assert np.array_equal(again.confusion_pred, first.confusion_pred)
    with pytest.raises(AssertionError, match="scored again"):  # another profile field: another trial
        clf.evaluate_many_class(profile_with("smoke", trials=1, queries_per_class=3), models, progress=False)


def test_replicates_are_evaluated_alike_and_tagged_with_their_model():
    profile = get_profile("smoke", trials=2)
    first = _tiny_models(profile, classes=tuple(range(12)))
    torch.manual_seed(5)  # another replicate: another homogeneity model, its own cache key
    other = HomogeneityModel(nn.Sequential(nn.Conv2d(1, profile.resnet_width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                           nn.Flatten()), embed_dim=4 * profile.resnet_width, layers=1, heads=2, head_dim=4)
    second = dataclasses.replace(first, homogeneity=other, keys={**first.keys, "finetuned": "hom-2"})
    both = clf.evaluate_many_class_models(profile, [first, second], progress=False)
    for model, models in enumerate((first, second)):
        alone = clf.evaluate_many_class(profile, models, progress=False)
        assert [r for r in both.table1 if r["model"] == model] == [{**r, "model": model} for r in alone.table1]
        assert [r for r in both.table2 if r["model"] == model] == [{**r, "model": model} for r in alone.table2]
    hom = [[r["accuracy"] for r in both.table1 if r["model"] == m and r["method"] == M_HOM] for m in (0, 1)]
    assert hom[0] != hom[1]  # two models, two sets of numbers
    summary = ct.table1(both, profile).attrs["summary"]
    assert set(summary["models"]) == {2} and set(summary["n"]) == {4}


def test_table3_records_match_a_hand_count_of_the_own_classifier():
    profile = profile_with("smoke", trials=1, queries_per_class=3)
    models = _tiny_models(profile)
    torch.manual_seed(1)
    own = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    own.cache_key = "own-digits"
    records = clf.evaluate_ood_datasets(profile, models, lambda name: (own, np.arange(10), profile),
                                        datasets=["digits"], progress=False)
    assert {r["method"] for r in records} == {M_OWN, *NN_METHODS, M_HOM}
    from ood_helpers.core.data import load_dataset

    test = load_dataset("digits", "test", profile=profile)
    targets = test.targets.numpy()
    rng = seed_everything(trial_seed(profile.seed, 0))
    queries = eps.sample_queries(targets, np.unique(targets), 3, rng)
    with torch.no_grad():
        pred = own(test.float_images()[torch.as_tensor(queries)]).argmax(1).numpy()
    got = next(r["accuracy"] for r in records if r["method"] == M_OWN)
    assert got == pytest.approx(np.mean(pred == targets[queries]))


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
    feats = clf.dataset_features(_tiny_models(smoke), ds, smoke)
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['no such method'\]"):
        clf.method_scorers(_tiny_models(smoke), feats, ["no such method"])


# ===== tables =====


def test_ordering_agreement_counts_pairs_and_ranks():
    import pandas as pd

    summary = pd.DataFrame({"method": ["a", "b", "c", M_HOM], "col": ["x"] * 4,
                            "mean": [1.0, 3.0, 2.0, 4.0], "paper": [1.0, 2.0, 3.0, float("nan")]})
    out = ct.ordering_agreement(summary, "col", focus="c")
    row = out.iloc[0]
    assert row["pairs in the paper's order"] == "2 of 3"  # (a,b), (a,c) agree; (b,c) flips
    assert row["best (ours)"] == "b" and row["best (paper)"] == "c"
    assert row["rank of c (ours / paper)"] == "2 / 1"
    assert row["kendall_tau"] == pytest.approx(1 / 3)
    assert "2 of 3 method pairs" in ct.describe_agreement(out, "col", focus="c")


def test_paper_values_are_renamed_to_our_columns():
    quick = get_profile("quick")
    t1 = ct.paper_table1(quick)
    assert t1[M_HOM][("top-1", "91-100")] == "47.47 ± 0.40"  # the paper's 901-1000 beside our 91-100
    t2 = ct.paper_table2(class_split(quick), homogeneity_settings(quick).eval_ranges)
    assert t2[M_HOM]["91-100"] == "78.43 ± 0.49" and t2[M_HOM]["91-92"] == "88.83 ± 0.34"
    t3 = ct.paper_table3(["mnist5k", "digits"])
    assert t3[M_NN_COS_PRE] == {"mnist5k": "76.24 ± 1.38"}


def test_confusion_figure_shows_row_normalised_counts():
    from ood_helpers.core.plots.confusion import confusion_figure

    fig = confusion_figure([5, 5, 7, 9], [5, 7, 7, 9], [5, 7, 9], names=["five", "seven", "nine"])
    shown = np.asarray(fig.axes[0].collections[0].get_array()).reshape(3, 3)
    np.testing.assert_allclose(shown, [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"classes \[8\] occur in y_true / y_pred but not in labels"):
        confusion_figure([5], [8], [5, 7])
