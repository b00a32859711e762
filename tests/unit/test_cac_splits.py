"""The class splits of paper 004 against the spec's appendix A (typed here again from the spec), and openness."""

import math

import pytest

from ood_helpers.cac.splits import CIFAR100_ANIMALS, open_set_split, openness

# spec 004 appendix A, old seed-1000 splits (known classes)
OLD_TEXT = {
    "mnist": "0 1 2 3 6 9 | 2 3 5 7 8 9 | 0 2 3 5 7 9 | 0 1 3 4 5 7 | 0 2 4 6 8 9",
    "svhn": "1 2 3 4 7 8 | 0 2 3 5 6 7 | 0 2 4 5 7 9 | 0 1 2 3 4 6 | 3 4 5 6 8 9",
    "cifar10": "2 3 4 6 8 9 | 1 3 4 5 6 7 | 0 1 4 5 6 8 | 1 2 4 7 8 9 | 0 1 2 3 6 9",
    "tinyimagenet": "24 45 46 49 50 58 75 76 85 87 123 126 131 142 146 147 159 189 192 199 | "
                    "5 6 8 30 35 51 57 81 101 113 115 129 131 140 144 155 159 168 176 198 | "
                    "4 15 22 23 28 29 52 57 75 85 92 114 124 127 135 155 165 190 196 199 | "
                    "21 43 46 50 58 59 63 71 81 82 101 122 125 142 146 150 165 170 178 196 | "
                    "1 13 15 18 25 49 53 57 64 65 72 80 103 104 129 134 144 152 154 186",
}
OLD_CIFAR_PLUS_10 = ("3 18 24 30 36 43 78 80 93 98 | 6 24 26 42 50 66 74 79 91 98 | 4 29 36 38 46 55 63 72 75 79 | "
                     "18 26 27 30 32 36 43 64 93 95 | 4 18 19 24 35 46 50 65 88 93")
ANIMALS = ("1 2 3 4 6 7 11 14 15 18 19 21 24 26 27 29 30 31 32 34 35 36 38 42 43 44 45 46 50 55 63 64 65 66 67 72 73 "
           "74 75 77 78 79 80 88 91 93 95 97 98 99")
NEAL_DIGITS = "0 1 2 4 5 9 | 0 3 5 7 8 9 | 0 1 5 6 7 8 | 3 4 5 7 8 9 | 0 1 2 3 7 8"
NEAL_CIFAR_PLUS_10 = ("26 31 34 44 45 63 65 77 93 98 | 7 11 66 75 77 93 95 97 98 99 | 2 11 15 24 32 34 63 88 93 95 | "
                      "1 11 38 42 44 45 63 64 66 67 | 3 15 19 21 42 46 66 72 78 98")
NEAL_TIN = ("10 28 54 72 77 91 104 107 112 124 125 144 145 157 166 169 180 186 192 193 | "
            "0 11 60 71 87 101 111 131 132 147 153 156 157 167 171 175 190 192 193 199 | "
            "12 13 15 25 28 33 46 49 54 61 78 80 82 90 103 107 124 140 159 167 | "
            "10 25 28 35 41 65 72 82 85 86 89 91 96 116 123 128 132 134 154 188 | "
            "8 10 26 29 38 44 47 48 59 62 76 79 93 102 106 130 145 175 183 186")


def parse(text):
    return [tuple(int(v) for v in part.split()) for part in text.split("|")]


@pytest.mark.parametrize("dataset", sorted(OLD_TEXT))
def test_old_known_classes_match_the_spec(dataset):
    total = 200 if dataset == "tinyimagenet" else 10
    for t, known in enumerate(parse(OLD_TEXT[dataset])):
        sp = open_set_split(dataset, t)
        assert sp.known == known
        assert sorted(sp.known + sp.unknown) == list(range(total)) and not set(sp.known) & set(sp.unknown)
        assert sp.unknown_source == dataset


def test_old_cifar_plus_matches_the_spec():
    animals = parse(ANIMALS)[0]
    assert CIFAR100_ANIMALS == animals and len(animals) == 50
    for t, unknown in enumerate(parse(OLD_CIFAR_PLUS_10)):
        sp = open_set_split("cifar+10", t)
        assert sp.known == (0, 1, 8, 9) and sp.unknown == unknown and sp.unknown_source == "cifar100"
        assert set(unknown) <= set(animals)
        assert open_set_split("cifar+50", t).unknown == animals


def test_neal_splits_match_the_spec():
    for t, known in enumerate(parse(NEAL_DIGITS)):
        for ds in ("mnist", "svhn", "cifar10"):
            assert open_set_split(ds, t, "neal").known == known
    for t, unknown in enumerate(parse(NEAL_CIFAR_PLUS_10)):
        assert open_set_split("cifar+10", t, "neal").unknown == unknown
    for t, known in enumerate(parse(NEAL_TIN)):
        assert open_set_split("tinyimagenet", t, "neal").known == known


def test_openness_values_of_the_spec():
    assert 100 * open_set_split("mnist", 0).openness == pytest.approx(13.397, abs=5e-4)
    assert 100 * open_set_split("cifar+10", 0).openness == pytest.approx(33.333, abs=5e-4)
    assert 100 * open_set_split("cifar+50", 0).openness == pytest.approx(62.861, abs=5e-4)
    assert 100 * open_set_split("tinyimagenet", 0).openness == pytest.approx(57.360, abs=5e-4)
    assert openness(6, 10, 6) == pytest.approx(1 - math.sqrt(12 / 16))
    assert openness(5, 5, 5) == 0.0


def test_bad_split_requests_are_refused():
    with pytest.raises(ValueError, match="trial"):
        open_set_split("mnist", 5)
    with pytest.raises(ValueError, match="split version"):
        open_set_split("mnist", 0, "new")
    with pytest.raises(ValueError, match="no CAC splits"):
        open_set_split("cifar100", 0)
