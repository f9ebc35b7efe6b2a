"""Issue 16, item 12: a FID from fewer samples than feature dimensions is not returned without a word.

With ``N <= D`` the two covariance estimates are singular and the Fréchet distance is mostly estimation
error: two samples of one and the same Gaussian score far above 0 (about 90 here, for 50 samples of 100-d
features), which a reader would take for two different distributions.
"""
import warnings

import numpy as np
import pytest

from facelab.metrics.gan import FIDSampleSizeWarning, fid_kid_baselines, frechet_distance


def same_distribution(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d))


def test_fid_with_fewer_samples_than_dimensions_warns_and_says_why():
    a, b = same_distribution(50, 100)
    with pytest.warns(FIDSampleSizeWarning, match=r"FID from 50 and 50 samples of 100-dimensional features.*"
                                                  r"singular.*Use more samples than feature dimensions"):
        value = frechet_distance(a, b)
    assert value > 50  # the number the warning is about: one distribution, yet far from 0


def test_fid_with_enough_samples_is_quiet_and_near_zero():
    a, b = same_distribution(2000, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(a, b) < 0.1


def test_fid_baselines_warn_when_their_halves_are_too_small():
    real, _ = same_distribution(100, 64)  # halves of 50 samples for 64 dimensions
    with pytest.warns(FIDSampleSizeWarning, match="FID from 50 and 50 samples of 64-dimensional"):
        fid_kid_baselines(real)
