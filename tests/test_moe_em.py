"""Classical mixture of Gaussian experts fitted by EM, on the inverse of y = x^2 + noise."""

import math

import pytest
import torch

from latentcode.moe.classical import GaussianMoE, GaussianMoEConfig, two_branch_data


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return two_branch_data(1000, seed=0), two_branch_data(2000, seed=1)


@pytest.fixture(scope="module")
def mixture(data):
    (y, x), _ = data
    return GaussianMoE(GaussianMoEConfig(num_experts=4, degree=2, max_iters=150)).fit(y, x)


def test_observed_log_likelihood_never_decreases(mixture):
    history = torch.tensor(mixture.history, dtype=torch.float64)
    assert len(history) > 20
    assert history.diff().min() >= -1e-12
    assert history[-1] - history[0] > 0.1  # and EM actually climbed


def test_mixture_beats_a_single_gaussian_regressor_on_held_out_nll(data, mixture):
    (y, x), (y_test, x_test) = data
    single = GaussianMoE(GaussianMoEConfig(num_experts=1, degree=2)).fit(y, x)
    # A single Gaussian must straddle both branches: mean ~0, variance ~1/3 (NLL ~0.87 nats).
    assert single.nll(y_test, x_test) == pytest.approx(0.5 * math.log(2 * math.pi * math.e / 3), abs=0.05)
    assert mixture.nll(y_test, x_test) < single.nll(y_test, x_test) - 1.0


def test_fitted_density_has_both_modes_of_the_inverse(mixture):
    y = torch.full((3,), 0.5, dtype=torch.float64)
    x = torch.tensor([-math.sqrt(0.5), 0.0, math.sqrt(0.5)], dtype=torch.float64)
    minus, middle, plus = mixture.log_prob(y, x).tolist()
    assert minus > middle + 3 and plus > middle + 3  # both branches e^3 more likely than the gap
    assert abs(minus - plus) < 1.0  # and about equally likely


def test_single_expert_is_ordinary_least_squares():
    y, x = two_branch_data(200, seed=3)
    model = GaussianMoE(GaussianMoEConfig(num_experts=1, degree=1)).fit(y, x)
    phi = torch.stack([torch.ones_like(y), y], 1)
    ols = torch.linalg.lstsq(phi, x).solution
    torch.testing.assert_close(model.weights[:, 0], ols)
    torch.testing.assert_close(model.variances[0], ((x - phi @ ols) ** 2).mean())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_experts": 0}, r"num_experts \(0\) must be >= 1"),
        ({"degree": -1}, r"degree \(-1\) must be >= 0"),
        ({"min_variance": 0.0}, r"min_variance \(0.0\) must be > 0"),
    ],
)
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianMoEConfig(**kwargs)
