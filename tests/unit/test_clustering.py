"""OOD clustering (paper 000 section 5.3): the pair matrix and its cache, the greedy eq. 3-4 and
average linkage, the baselines with the 2020 t-SNE, and Table 4's cached trials."""

import numpy as np
import pytest
import torch
from scipy.special import logit
from sklearn.datasets import make_blobs
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score

from ood_helpers.core import artifacts
from ood_helpers.homogeneity import clustering as C
from ood_helpers.core.metrics import embedding_clustering as E
from ood_helpers.homogeneity import greedy_clustering as H
from ood_helpers.homogeneity import pair_matrix as PM
from ood_helpers.core.metrics.clustering import clustering_accuracy

SURE = 10.0  # logit of a confident decision: sigmoid(10) = 0.99995


def coded_embeddings(labels, dim=4, seed=0):
    """Embeddings whose column 0 holds the class and column 1 the sample index, for oracle scorers."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(len(labels), dim)).astype(np.float32)
    emb[:, 0] = labels
    emb[:, 1] = np.arange(len(labels))
    return torch.from_numpy(emb)


def oracle(emb, lengths):
    """Logit +10 when every valid member of a set shares the class code, -10 otherwise."""
    codes = emb[..., 0]
    valid = torch.arange(emb.shape[1])[None, :] < lengths[:, None]
    same = ((codes == codes[:, :1]) | ~valid).all(dim=1).float()
    return (SURE * (2 * same - 1))[:, None].expand(-1, emb.shape[1]).clone()


def raising(*args, **kwargs):
    raise AssertionError("recomputed although cached")


# ===== pair matrix (eq. 3) =====


def asym(e, lengths):
    """A logit that depends on which sample is the query, so the matrix is not symmetric."""
    q = e[torch.arange(len(e)), lengths - 1, 0]
    return (q - 2 * e[:, 0, 1])[:, None].expand(-1, e.shape[1])


def test_pair_matrix_matches_a_loop_over_pairs_in_batches_of_batch_sets():
    emb = torch.randn(7, 3)
    calls = []

    def counting(e, lengths):
        calls.append(len(e))
        return asym(e, lengths)

    got = PM.pairwise_homogeneity(emb, counting, batch_sets=5)
    assert calls == [5] * 8 + [2]  # the 42 ordered pairs, 5 sets per forward
    for i in range(7):
        assert np.isnan(got[i, i])
        for j in range(7):
            if i != j:
                want = asym(torch.stack([emb[i], emb[j]])[None], torch.tensor([2]))[0, 0]
                assert got[i, j] == pytest.approx(float(want), abs=1e-6)
    probs = PM.pair_probabilities(got)
    assert probs[0, 1] == pytest.approx(1 / (1 + np.exp(-float(got[0, 1]))))
    with pytest.raises(ValueError, match="batch_sets"):
        PM.pairwise_homogeneity(emb, asym, batch_sets=0)


def test_pair_matrix_is_cached_by_model_and_features():
    emb = torch.randn(6, 3)
    first = PM.cached_pairwise_homogeneity(emb, asym, profile="cachetest", model_key="model-a", batch_sets=4)
    again = PM.cached_pairwise_homogeneity(emb, raising, profile="cachetest", model_key="model-a")
    np.testing.assert_array_equal(first, again)
    config = PM.pair_matrix_config(emb, "model-a")
    assert artifacts.cache_path("cachetest", "pair-matrix", artifacts.config_hash(config), ".pt").is_file()
    assert config["code"] == artifacts.code_fingerprint("ood_helpers.homogeneity.pair_matrix")
    with pytest.raises(AssertionError, match="recomputed"):  # another model: a new key
        PM.cached_pairwise_homogeneity(emb, raising, profile="cachetest", model_key="model-b")
    with pytest.raises(AssertionError, match="recomputed"):  # other features: a new key
        PM.cached_pairwise_homogeneity(emb + 1, raising, profile="cachetest", model_key="model-a")


def test_model_scorer_returns_logits_of_the_model():
    from ood_helpers.homogeneity.model import HomogeneityModel

    torch.manual_seed(0)
    model = HomogeneityModel(torch.nn.Identity(), 6, layers=1, heads=2, head_dim=4).train()
    emb, lengths = torch.randn(5, 3, 6), torch.tensor([2, 3, 1, 3, 2])
    out = PM.model_scorer(model)(emb, lengths)
    assert not model.training  # dropout off
    with torch.no_grad():
        torch.testing.assert_close(out, model.set_logits(emb, lengths))
        valid = torch.arange(3)[None, :] < lengths[:, None]
        torch.testing.assert_close(torch.sigmoid(out)[valid], model.score_embeddings(emb, lengths)[valid])


def test_pair_summary_counts_pairs_and_rates():
    labels = np.array([0, 0, 1])
    p = np.array([[np.nan, 0.9, 0.6], [0.3, np.nan, 0.2], [0.4, 0.1, np.nan]])
    table = PM.pair_summary(logit(p), labels)
    assert table.loc["same class", "count"] == 2
    assert table.loc["same class", "mean probability"] == pytest.approx(0.6)
    assert table.loc["same class", "% above 0.5"] == pytest.approx(50.0)
    assert table.loc["different class", "count"] == 4
    assert table.loc["different class", "% above 0.5"] == pytest.approx(25.0)


# ===== greedy clustering (eq. 3-4) and average linkage =====


def test_oracle_recovers_the_true_partition():
    labels = np.repeat([3, 0, 7, 5], [6, 9, 4, 11])
    labels = np.random.default_rng(1).permutation(labels)
    pred = H.greedy_homogeneity_clustering(
        coded_embeddings(labels), oracle, set_size=5, rng=np.random.default_rng(0), batch_sets=7
    )
    assert adjusted_rand_score(labels, pred) == 1.0
    assert len(np.unique(pred)) == 4
    assert clustering_accuracy(labels, pred) == 100.0


def test_no_pair_above_half_leaves_singletons():
    emb = coded_embeddings(np.zeros(6))
    half = lambda e, l: torch.zeros(e.shape[:2])  # logit 0 is probability 0.5, not "> 0.5"
    pred = H.greedy_homogeneity_clustering(emb, half, set_size=4, rng=np.random.default_rng(0))
    assert sorted(pred.tolist()) == list(range(6))


def test_threshold_is_a_probability_applied_through_the_sigmoid():
    emb = coded_embeddings(np.zeros(4))
    # every set scores `prob`; a threshold compared with the raw logit would decide 0.69 and 0.4 the other way
    for threshold, prob, clusters in ((0.7, 0.69, 4), (0.7, 0.8, 1), (0.3, 0.4, 1), (0.3, 0.2, 4)):
        const = lambda e, l, prob=prob: torch.full(e.shape[:2], float(logit(prob)))
        pred = H.greedy_homogeneity_clustering(emb, const, set_size=5, rng=np.random.default_rng(0),
                                               threshold=threshold)
        assert len(np.unique(pred)) == clusters


def test_seed_pair_is_the_highest_pair_and_growth_takes_the_best_candidate():
    # pair probabilities from a fixed table; a set of 3+ scores the mean pair probability to its query
    table = np.array(
        [
            [0, 0.6, 0.1, 0.1],
            [0.6, 0, 0.2, 0.9],
            [0.1, 0.2, 0, 0.3],
            [0.1, 0.9, 0.3, 0],
        ]
    )

    def scorer(e, lengths):
        idx = e[..., 1].long()
        out = []
        for b in range(len(e)):
            q = idx[b, lengths[b] - 1]
            out.append(np.mean([table[s, q] for s in idx[b, : lengths[b] - 1]]))
        return torch.logit(torch.tensor(out))[:, None].expand(-1, e.shape[1])

    emb = coded_embeddings(np.zeros(4))
    pred = H.greedy_homogeneity_clustering(emb, scorer, set_size=10, rng=np.random.default_rng(0))
    # seed {1, 3} (0.9, the highest pair); then 0 scores mean(0.6, 0.1) = 0.35 and 2 scores
    # mean(0.2, 0.3) = 0.25, both below 0.5, and the remaining pair (0, 2) = 0.1: two singletons
    assert pred[1] == pred[3]
    assert len({pred[0], pred[1], pred[2]}) == 3


def test_subsampling_starts_once_a_cluster_exceeds_k_minus_1():
    k = 4
    labels = np.zeros(10, dtype=int)
    emb = coded_embeddings(labels)
    supports = []

    def recording(e, lengths):
        for b in range(len(e)):
            if lengths[b] > 2:  # growth steps only (eq. 4); 2-sets are the eq. 3 pairs
                supports.append(tuple(sorted(e[b, : lengths[b] - 1, 1].long().tolist())))
        return oracle(e, lengths)

    H.greedy_homogeneity_clustering(emb, recording, set_size=k, rng=np.random.default_rng(0))
    per_step = list(dict.fromkeys(supports))  # one support per growth step, in order
    sizes = [len(s) for s in per_step]
    # cluster sizes 2 and 3 (<= k - 1) use every member; from size 4 on, k - 1 = 3 are drawn
    assert sizes[:2] == [2, 3]
    assert all(size == k - 1 for size in sizes[2:])
    assert len(set(per_step[2:])) > 1, "the k - 1 members must be redrawn at each growth step"
    assert max(len(s) + 1 for s in supports) <= k


def test_growth_step_scores_batch_sets_sets_per_forward():
    emb = coded_embeddings(np.zeros(9))
    sizes = []

    def recording(e, lengths):
        if int(lengths.max()) > 2:
            sizes.append(len(e))
        return torch.full(e.shape[:2], -SURE)  # nobody joins: one growth step over 7 candidates

    pairs = np.full((9, 9), -SURE)
    pairs[0, 1] = SURE
    H.greedy_homogeneity_clustering(emb, recording, set_size=4, rng=np.random.default_rng(0),
                                    pair_logits=pairs, batch_sets=3)
    assert sizes == [3, 3, 1]


def test_same_rng_seed_same_labels_and_set_size_checked():
    labels = np.repeat([0, 1], 8)
    emb = coded_embeddings(labels)
    a = H.greedy_homogeneity_clustering(emb, oracle, set_size=3, rng=np.random.default_rng(5))
    b = H.greedy_homogeneity_clustering(emb, oracle, set_size=3, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="set_size"):
        H.greedy_homogeneity_clustering(emb, oracle, set_size=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="pair_logits"):
        H.greedy_homogeneity_clustering(emb, oracle, set_size=3, rng=np.random.default_rng(0),
                                        pair_logits=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        PM.pairwise_homogeneity(torch.zeros(3), oracle)


def test_info_counts_growth_and_subsampled_steps():
    labels = np.repeat([0, 1], [7, 3])
    info = {}
    H.greedy_homogeneity_clustering(coded_embeddings(labels), oracle, set_size=4, rng=np.random.default_rng(0),
                                    info=info)
    # class 0: seed pair, 5 joins + 1 failed step; class 1: seed pair, 1 join, then nobody is left
    assert info["growth_steps"] == 6 + 1
    # class 0 steps run with 2, 3, 4, 5, 6, 7 members: those with 4+ (> k - 1 = 3) subsample
    assert info["subsampled_steps"] == 4


def test_agglomerative_recovers_oracle_partition_and_resists_a_hub():
    labels = np.repeat([0, 1, 2], 5)
    p = (labels[:, None] == labels[None, :]).astype(float)
    np.fill_diagonal(p, np.nan)
    pred = H.agglomerative_homogeneity_clustering(logit(p))
    assert adjusted_rand_score(labels, pred) == 1.0
    # a hub sample close to everyone (0.95) does not chain the classes together under
    # average linkage: a merge needs the mean over all cross pairs above 0.5
    hub = np.vstack([np.hstack([p, np.full((15, 1), 0.95)]), np.full((1, 16), 0.95)])
    hub[np.isnan(hub)] = 0.0
    np.fill_diagonal(hub, np.nan)
    avg = H.agglomerative_homogeneity_clustering(logit(hub))
    assert adjusted_rand_score(labels, avg[:15]) == 1.0


def test_agglomerative_cut_is_at_half():
    p = np.array([[np.nan, 0.51, 0.2], [0.51, np.nan, 0.2], [0.2, 0.2, np.nan]])
    assert len(np.unique(H.agglomerative_homogeneity_clustering(logit(p)))) == 2
    p[0, 1] = p[1, 0] = 0.49
    assert len(np.unique(H.agglomerative_homogeneity_clustering(logit(p)))) == 3
    with pytest.raises(ValueError, match="square"):
        H.agglomerative_homogeneity_clustering(np.zeros((2, 3)))


# ===== baselines: k-means, the 2020 t-SNE, DBSCAN =====


def test_tsne_2020_is_sklearn_tsne_with_the_2020_defaults():
    x, _ = make_blobs(n_samples=40, centers=3, n_features=5, random_state=1)
    iters = "max_iter" if "max_iter" in TSNE().get_params() else "n_iter"
    want = TSNE(n_components=2, perplexity=30.0, learning_rate=200.0, init="random", early_exaggeration=12.0,
                random_state=3, **{iters: 1000}).fit_transform(x)
    np.testing.assert_allclose(E.tsne_2020(x, seed=3), want, rtol=1e-5, atol=1e-5)
    today = TSNE(n_components=2, perplexity=30.0, learning_rate="auto", init="random", random_state=3).fit_transform(x)
    assert not np.allclose(want, today)  # the learning rate matters to the map's scale
    from ood_helpers.core.plots.embedding import embed_2d

    np.testing.assert_allclose(embed_2d(x, "tsne", seed=3), want, rtol=1e-5, atol=1e-5)  # Fig. 3 draws the same map
    with pytest.raises(ValueError, match="perplexity"):
        E.tsne_2020(x[:5], seed=0, perplexity=5)


def test_kmeans_and_tsne_dbscan_on_separated_blobs():
    # 150 samples: with the 2020 learning rate of 200, t-SNE maps of fewer than about 100 points
    # spread over hundreds of units and DBSCAN's eps = 1.75 finds no dense region at all
    x, y = make_blobs(n_samples=150, centers=3, n_features=10, cluster_std=0.5, random_state=0)
    assert clustering_accuracy(y, E.kmeans_clustering(x, 3, seed=0)) == 100.0
    pred = E.tsne_dbscan_clustering(x, eps=1.75, min_samples=5, seed=0)
    assert clustering_accuracy(y, pred) > 80.0
    # every point noise (min_samples > n): each becomes its own cluster, none shares -1
    pred = E.tsne_dbscan_clustering(x[:10], eps=1e-6, min_samples=50, seed=0)
    assert sorted(pred.tolist()) == list(range(10))


def test_dbscan_labels_match_sklearn_with_noise_as_singletons():
    from sklearn.cluster import DBSCAN

    coords = np.random.default_rng(0).normal(size=(50, 2)) * 3
    raw = DBSCAN(eps=1.0, min_samples=4).fit_predict(coords)
    got = E.dbscan_labels(coords, eps=1.0, min_samples=4)
    assert (raw == -1).any()
    assert np.array_equal(got[raw >= 0], raw[raw >= 0])
    noise = got[raw == -1]
    assert len(set(noise)) == len(noise) and noise.min() > raw.max()


def test_tsne_perplexity_and_images_input():
    assert E.tsne_perplexity(5) == 4.0
    assert E.tsne_perplexity(500) == 30.0
    images = torch.rand(6, 1, 4, 4)
    assert E.pca_tsne(images, seed=0).shape == (6, 2)
    with pytest.raises(ValueError, match="n_clusters"):
        E.kmeans_clustering(images, 9, seed=0)
    with pytest.raises(ValueError, match="eps"):
        E.tsne_dbscan_clustering(images, eps=0, min_samples=1, seed=0)


# ===== Table 4 =====


def test_paper_table4_has_five_ranges_per_row():
    from ood_helpers.homogeneity import paper_values

    assert all(len(v) == len(paper_values.PAPER_TABLE4_RANGES) for v in paper_values.PAPER_TABLE4.values())
    assert paper_values.PAPER_TABLE4["Class Homogeneity (greedy, eq. 3-4)"][3] == (1.00, 0.00)
    assert paper_values.PAPER_TABLE4["PCA + t-SNE + DBSCAN (images)"][0] == (16.48, 0.80)
    assert set(paper_values.PAPER_TABLE4) == {C.KMEANS_ROW, *C.FEATURE_ROWS.values(), C.GREEDY_ROW}


def test_paper_table4_maps_ranges_by_position():
    paper = C.paper_table4((2, 4, 6, 8, 10))
    assert paper[C.GREEDY_ROW]["8 classes"] == "1.00 ± 0.00"
    assert paper[C.KMEANS_ROW]["2 classes"] == "89.04 ± 3.36"
    short = C.paper_table4((1, 2))
    assert list(short[C.KMEANS_ROW]) == ["1 class", "2 classes"]


def trial_inputs():
    labels = np.repeat([11, 4, 9], 12)
    emb = coded_embeddings(labels)
    centers = {11: 0.0, 4: 9.0, 9: -9.0}
    x = np.array([centers[c] for c in labels])[:, None] + np.random.default_rng(0).normal(0, 0.3, (36, 6))
    features = {"all": x, "pretrained": x, "fine-tuned": emb.numpy(),
                "images": np.random.default_rng(0).random((36, 3, 2, 2))}
    return labels, emb, features, [np.array([11, 4]), np.array([11, 4, 9])]


def test_clustering_trials_records_every_method_range_and_seed():
    labels, emb, features, ranges = trial_inputs()
    records, preds = C.clustering_trials(labels, features, emb, oracle, ranges, set_size=5, seeds=[3, 4], progress=False)
    methods = [C.KMEANS_ROW, *C.FEATURE_ROWS.values(), C.GREEDY_ROW, C.AGGLOMERATIVE_ROW]
    assert len(records) == len(methods) * len(ranges) * 2
    by = {(r["method"], r["n_classes"], r["trial"]): r for r in records}
    for n in (2, 3):
        idx = np.flatnonzero(np.isin(labels, ranges[n - 2]))
        for trial in (0, 1):
            for row in (C.GREEDY_ROW, C.AGGLOMERATIVE_ROW, C.KMEANS_ROW):
                assert by[(row, n, trial)]["accuracy"] == 100.0
                assert by[(row, n, trial)]["n_clusters"] == n
            pred = preds[(C.GREEDY_ROW, n, trial)]
            assert len(pred) == 12 * n
            for row in methods:  # each record is eq. 2 and the cluster counts of its prediction
                p, r = preds[(row, n, trial)], by[(row, n, trial)]
                assert r["accuracy"] == pytest.approx(clustering_accuracy(labels[idx], p))
                assert r["n_clusters"] == len(set(p.tolist()))
                assert r["largest_cluster"] == pytest.approx(max(np.bincount(np.unique(p, return_inverse=True)[1])) / len(p))
    with pytest.raises(ValueError, match="features lack"):
        C.clustering_trials(labels, {"all": features["all"]}, emb, oracle, ranges, set_size=5, seeds=[0], progress=False)
    with pytest.raises(ValueError, match="pair_logits must be"):
        C.clustering_trials(labels, features, emb, oracle, ranges, set_size=5, seeds=[0], pair_logits=np.zeros((3, 3)),
                            progress=False)
    with pytest.raises(ValueError, match="both profile and model_key"):
        C.clustering_trials(labels, features, emb, oracle, ranges, set_size=5, seeds=[0], profile="x", progress=False)


def test_cached_trials_are_not_recomputed_and_a_rerun_resumes(monkeypatch):
    labels, emb, features, ranges = trial_inputs()
    kw = {"set_size": 5, "seeds": [3, 4], "profile": "trialcache", "model_key": "hom-1", "progress": False}
    calls = []

    def counting_kmeans(x, n, *, seed):
        calls.append((n, seed))
        return E.kmeans_clustering(x, n, seed=seed)

    monkeypatch.setattr(C, "kmeans_clustering", counting_kmeans)
    C.clustering_trials(labels, features, emb, oracle, ranges[:1], **kw)  # an "interrupted" run: first range only
    assert calls == [(2, 3), (2, 4)]
    records, preds = C.clustering_trials(labels, features, emb, oracle, ranges, **kw)
    assert calls == [(2, 3), (2, 4), (3, 3), (3, 4)]  # the rerun resumes with the second range
    assert len(list((artifacts.cache_path("trialcache", "cluster-trials", "x").parent).glob("*.pt"))) == 4

    for name in ("kmeans_clustering", "tsne_dbscan_clustering", "greedy_homogeneity_clustering",
                 "agglomerative_homogeneity_clustering", "pairwise_homogeneity", "cached_pairwise_homogeneity"):
        monkeypatch.setattr(C, name, raising)
    again, preds_again = C.clustering_trials(labels, features, emb, raising, ranges, **kw)
    assert again == records
    assert preds_again.keys() == preds.keys()
    assert all(np.array_equal(preds[k], preds_again[k]) for k in preds)
    with pytest.raises(AssertionError, match="recomputed"):  # another model: nothing is reused
        C.clustering_trials(labels, features, emb, raising, ranges, **{**kw, "model_key": "hom-2"})


def test_cluster_size_table_shows_counts_and_largest_share():
    records = [
        {"method": "m", "classes": "2 classes", "n_classes": 2, "trial": t, "n_clusters": n, "largest_cluster": f}
        for t, (n, f) in enumerate([(1, 1.0), (3, 0.5)])
    ]
    table = C.cluster_size_table(records)
    assert table.loc["true classes", "2 classes: clusters"] == "2.0 ± 0.0"
    assert table.loc["m", "2 classes: clusters"] == "2.0 ± 1.4"  # mean 2, std (ddof 1) sqrt(2)
    assert table.loc["m", "2 classes: largest %"] == "75.0 ± 35.4"


def test_scatter_pair_colours_clusters_by_their_matched_class():
    import matplotlib

    matplotlib.use("agg")
    from ood_helpers.core.plots.embedding import cluster_scatter_pair, embed_2d

    y = np.repeat([0, 1, 2], 10)
    pred = np.repeat([7, 5, 6], 10)
    pred[0] = 99  # one singleton
    coords = embed_2d(np.eye(3)[y] * 5 + np.random.default_rng(0).normal(size=(30, 3)), "tsne", seed=0)
    assert coords.shape == (30, 2)
    fig = cluster_scatter_pair(coords, y, pred)
    left, right = fig.axes[:2]
    left_colors = {c.get_label(): tuple(c.get_facecolor()[0]) for c in left.collections}
    right_colors = {c.get_label(): tuple(c.get_facecolor()[0]) for c in right.collections}
    assert right_colors["cluster ~ 1"] == left_colors["1"]  # cluster 5 is class 1
    assert "singletons (1)" in right_colors
    assert len(right.collections) == 4
    with pytest.raises(ValueError, match="one row per sample"):
        cluster_scatter_pair(coords, y[:5], pred)
    with pytest.raises(ValueError, match="method"):
        embed_2d(coords, "pca", seed=0)
