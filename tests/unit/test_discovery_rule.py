"""The discovery rule on hand-made scores: assign / open decisions known in advance, eq. 4's draws,
lockstep runs equal to lone runs, and the eq. 1 / NN class scorers against brute force."""

import numpy as np
import pytest
import torch

from ood_helpers.discovery.rule import NO_IMAGE, discover, draw_exemplars
from ood_helpers.discovery.scorers import CentroidClassScorer, HomogeneityClassScorer, NeighbourClassScorer
from ood_helpers.homogeneity.model import HomogeneityModel


class MatrixScorer:
    """Mean of S[query, exemplar] over the valid exemplars (a hand-made score matrix)."""

    def __init__(self, S):
        self.S = np.asarray(S, float)
        self.calls = []

    def __call__(self, queries, exemplars, counts):
        self.calls.append((queries.copy(), exemplars.copy(), counts.copy()))
        valid = exemplars >= 0
        vals = self.S[queries[:, None], np.where(valid, exemplars, 0)] * valid
        return vals.sum(1) / counts


# images 0-1: labelled class 0 (group A); 2-3: labelled class 1 (group B); stream 4..8
GROUPS = np.array(list("AABBANNBM"))
S_GROUPS = np.where(GROUPS[:, None] == GROUPS[None, :], 0.875, 0.125)  # exact in binary: ties are ties
MEMORY, MEMORY_LABELS = np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1])
STREAM = np.array([4, 5, 6, 7, 8])


def run(thresholds, S=S_GROUPS, n_exemplars=10, stream=STREAM):
    thresholds = np.atleast_1d(thresholds)
    r = len(thresholds)
    return discover(MatrixScorer(S), np.tile(stream, (r, 1)), [MEMORY] * r, [MEMORY_LABELS] * r, thresholds,
                    n_exemplars=n_exemplars, seeds=list(range(r)))


def test_decisions_known_in_advance():
    d = run(0.5)
    # 4 joins A (class 0), 5 opens new -1, 6 joins it, 7 joins B (class 1), 8 (group M) opens -2
    assert d.pred[0].tolist() == [0, -1, -1, 1, -2]
    assert d.opened[0].tolist() == [False, True, False, False, True]
    assert d.best[0].tolist() == [0.875, 0.125, 0.875, 0.875, 0.125]


def test_threshold_extremes():
    d = run([0.95, 0.05])
    assert d.pred[0].tolist() == [-1, -2, -3, -4, -5]  # nothing passes: every image a new class
    # everything passes: 4 -> A; 5 ties A and B at 0.125 -> the older class 0; 6: class 0 = {0,1,4,5}
    # mean (3 x 0.125 + 0.875) / 4 = 0.3125 > class 1's 0.125 -> 0; 7 -> B; 8 ties at 0.125 -> the older 0
    assert d.pred[1].tolist() == [0, 0, 0, 1, 0]
    assert not d.opened[1].any()
    assert d.best[1].tolist() == [0.875, 0.125, 0.3125, 0.875, 0.125]


def test_threshold_is_inclusive():
    assert run(0.875).pred[0].tolist() == [0, -1, -1, 1, -2]  # 0.875 >= 0.875 assigns
    assert run(0.876).pred[0].tolist() == [-1, -2, -3, -4, -5]


def test_memory_grows_with_every_image():
    sc = MatrixScorer(S_GROUPS)
    discover(sc, STREAM[None], [MEMORY], [MEMORY_LABELS], [0.5], n_exemplars=10, seeds=[0])
    # classes compared per step: 2, 2, 3 (new -1), 3, 3; exemplar counts grow as images join
    assert [len(q) for q, _, _ in sc.calls] == [2, 2, 3, 3, 3]
    assert sc.calls[2][2].tolist() == [3, 2, 1]  # class 0 holds {0,1,4}, class 1 {2,3}, new {5}
    assert sorted(sc.calls[4][1][2][sc.calls[4][1][2] >= 0].tolist()) == [5, 6]
    assert all((q == STREAM[t]).all() for t, (q, _, _) in enumerate(sc.calls))


def test_padded_streams_skip_steps():
    streams = np.array([[4, 5, 6, 7, 8], [4, 5, -1, -1, -1]])
    d = discover(MatrixScorer(S_GROUPS), streams, [MEMORY] * 2, [MEMORY_LABELS] * 2, [0.5, 0.5], n_exemplars=10,
                 seeds=[0, 1])
    assert d.pred[1].tolist() == [0, -1, NO_IMAGE, NO_IMAGE, NO_IMAGE]
    assert d.pred[0].tolist() == [0, -1, -1, 1, -2]


def test_lockstep_runs_equal_lone_runs():
    rng = np.random.default_rng(0)
    n = 60
    S = rng.random((n, n))
    memory = [np.arange(12), np.arange(12)]
    labels = [np.repeat([0, 1, 2], 4)] * 2
    streams = np.stack([rng.permutation(np.arange(12, n)), rng.permutation(np.arange(12, n))])
    together = discover(MatrixScorer(S), streams, memory, labels, [0.45, 0.5], n_exemplars=3, seeds=[7, 8])
    for r, (t, seed) in enumerate([(0.45, 7), (0.5, 8)]):
        alone = discover(MatrixScorer(S), streams[r:r + 1], memory[:1], labels[:1], [t], n_exemplars=3, seeds=[seed])
        np.testing.assert_array_equal(alone.pred[0], together.pred[r])
    again = discover(MatrixScorer(S), streams, memory, labels, [0.45, 0.5], n_exemplars=3, seeds=[7, 8])
    np.testing.assert_array_equal(again.pred, together.pred)


def test_eq4_draws_are_uniform_subsets():
    # one slot of 6 members, another of 2; draw 3 a time
    mem_img, mem_slot, slot_run = np.arange(10, 18), np.array([0] * 6 + [1] * 2), np.array([0, 1])
    rngs = [np.random.default_rng(0), np.random.default_rng(1)]
    hits = np.zeros(18)
    for _ in range(3000):
        ex, counts = draw_exemplars(mem_img, mem_slot, slot_run, 2, 3, rngs)
        assert counts.tolist() == [3, 2]
        assert len(set(ex[0])) == 3 and set(ex[0]) <= set(range(10, 16))
        assert sorted(ex[1][:2].tolist()) == [16, 17] and ex[1][2] == -1
        hits[ex[0]] += 1
    # each of 6 members is drawn with probability 1/2: 1500 of 3000 (binomial sd ~27)
    assert np.all(np.abs(hits[10:16] - 1500) < 120)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one array per run"):
        discover(MatrixScorer(S_GROUPS), STREAM[None], [MEMORY] * 2, [MEMORY_LABELS], [0.5], n_exemplars=2, seeds=[0])
    with pytest.raises(ValueError, match="labels >= 0"):
        discover(MatrixScorer(S_GROUPS), STREAM[None], [MEMORY], [MEMORY_LABELS - 1], [0.5], n_exemplars=2, seeds=[0])
    with pytest.raises(ValueError, match="n_exemplars"):
        discover(MatrixScorer(S_GROUPS), STREAM[None], [MEMORY], [MEMORY_LABELS], [0.5], n_exemplars=0, seeds=[0])


def test_homogeneity_scorer_matches_full_model_per_set():
    torch.manual_seed(0)
    model = HomogeneityModel(torch.nn.Identity(), 6, layers=2, heads=2, head_dim=4).eval()
    emb = torch.randn(20, 6)
    scorer = HomogeneityClassScorer(model, emb, batch_sets=3)
    queries = np.array([10, 11, 12, 13, 14])
    exemplars = np.array([[0, 1, 2], [3, -1, -1], [4, 5, -1], [6, 7, 8], [9, -1, -1]])
    counts = np.array([3, 1, 2, 3, 1])
    got = scorer(queries, exemplars, counts)
    with torch.no_grad():
        for i in range(5):
            rows = [*exemplars[i, :counts[i]], queries[i]]  # [exemplars..., query], unpadded
            want = model.set_logits(emb[rows][None], torch.tensor([len(rows)]))[0, 0].item()
            assert got[i] == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_neighbour_scorer_is_mean_similarity(metric):
    emb = torch.randn(12, 5, generator=torch.Generator().manual_seed(3))
    scorer = NeighbourClassScorer(emb, metric)
    queries, counts = np.array([0, 0, 1]), np.array([3, 1, 2])
    exemplars = np.array([[2, 3, 4], [5, -1, -1], [6, 7, -1]])
    got = scorer(queries, exemplars, counts)
    e = emb.numpy().astype(float)
    for i in range(3):
        ex = e[exemplars[i, :counts[i]]]
        q = e[queries[i]]
        if metric == "cosine":
            want = np.mean(ex @ q / np.linalg.norm(ex, axis=1) / np.linalg.norm(q))
        else:
            want = -np.mean(np.linalg.norm(ex - q, axis=1))
        assert got[i] == pytest.approx(want, abs=1e-5)


def test_centroid_scorer_is_minus_distance_to_exemplar_mean():
    emb = torch.randn(12, 5, generator=torch.Generator().manual_seed(4))
    queries, exemplars, counts = np.array([0, 1]), np.array([[2, 3, 4], [5, -1, -1]]), np.array([3, 1])
    got = CentroidClassScorer(emb)(queries, exemplars, counts)
    e = emb.numpy().astype(float)
    assert got[0] == pytest.approx(-np.linalg.norm(e[0] - e[[2, 3, 4]].mean(0)), abs=1e-5)
    assert got[1] == pytest.approx(-np.linalg.norm(e[1] - e[5]), abs=1e-5)
