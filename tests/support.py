"""The small benchmark trial the row tests share: trial 0 of the CAC paper's MNIST splits on MNIST-5000 at the
smoke profile's cut (40 / 10 / 20 images a class), as the smoke profile's notebook 11 loads it."""

from ood_helpers.benchmark.trial import BenchmarkTrial
from ood_helpers.cac.data import load_trial
from ood_helpers.core.profile import get_profile
from ood_helpers.core.seeding import trial_seed


def smoke_trial_data():
    return load_trial("mnist5k", 0, per_class=(40, 10, 20))


def make_trial(data, profile=None) -> BenchmarkTrial:
    """Trial 0 of ``data`` under ``profile`` (default smoke), seeded as the runner seeds it."""
    p = profile or get_profile("smoke")
    return BenchmarkTrial(data, 0, trial_seed(p.seed, 0), p)
