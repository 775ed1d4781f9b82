"""Embedding noise and the anonymity-set measure."""

from __future__ import annotations

import numpy as np
import pytest

from sensors.privacy.lsh import KeyedLsh
from sensors.privacy.noise import add_noise, anonymity_set_size, noise_for_anonymity


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_noise_keeps_unit_length_and_moves_by_about_sigma() -> None:
    rng = np.random.default_rng(0)
    x = random_unit(500, 1024, rng)
    original = x.copy()
    noisy = add_noise(x, 0.3, rng)
    assert np.array_equal(x, original)  # the input is left alone
    np.testing.assert_allclose(np.linalg.norm(noisy, axis=1), 1.0, atol=1e-5)
    # x + n with |n| ~ 0.3, renormalised: the chord to x is about 0.3 / sqrt(1 + 0.09).
    moved = np.linalg.norm(noisy - x, axis=1)
    assert moved.mean() == pytest.approx(0.3 / np.sqrt(1.09), rel=0.03)
    assert np.array_equal(add_noise(x, 0.0, rng), x)
    with pytest.raises(ValueError, match="sigma"):
        add_noise(x, -0.1, rng)


def test_more_noise_makes_the_group_of_the_same_vector_less_stable() -> None:
    rng = np.random.default_rng(1)
    lsh = KeyedLsh(bytes(32))
    x = random_unit(4000, 1024, rng)
    stability = []
    for sigma in (0.0, 0.1, 0.3, 1.0):
        stability.append((lsh.groups(add_noise(x, sigma, rng)) == lsh.groups(add_noise(x, sigma, rng))).mean())
    assert stability[0] == 1.0
    assert stability[0] > stability[1] > stability[2] > stability[3]
    assert stability[3] < 0.05


def test_anonymity_set_on_a_toy_population() -> None:
    # Three persons on a line of the unit circle (embedded in 4 dims); the noisy vector lies nearest to B.
    angle = np.deg2rad([0.0, 10.0, 40.0])
    population = np.zeros((3, 4))
    population[:, 0], population[:, 1] = np.cos(angle), np.sin(angle)
    near_b = np.array([np.cos(np.deg2rad(12)), np.sin(np.deg2rad(12)), 0, 0])
    # True person A: B is more likely, C is not -> {A, B}. True person B: only B. True person C: all three.
    sizes = anonymity_set_size(np.stack([near_b] * 3), population, 0.1, true_index=np.array([0, 1, 2]))
    assert sizes.tolist() == [2, 1, 3]
    # "About as likely" (within a factor e^0.2 at sigma 1 in 4 dims: 0.05 of cosine) widens B's set to A.
    wider = anonymity_set_size(near_b, population, 1.0, true_index=np.array([1]), likelihood_ratio=np.exp(0.2))
    assert wider.tolist() == [2]
    with pytest.raises(ValueError, match="true indices"):
        anonymity_set_size(np.stack([near_b] * 2), population, 0.1, true_index=np.array([0]))


def test_anonymity_grows_with_noise_and_calibration_finds_the_sigma() -> None:
    rng = np.random.default_rng(2)
    population = random_unit(300, 64, rng)
    small = np.median(anonymity_set_size(add_noise(population, 0.1, rng), population, 0.1))
    large = np.median(anonymity_set_size(add_noise(population, 8.0, rng), population, 8.0))
    assert small == 1 and large > 10
    sigma = noise_for_anonymity(population, target=3, rng=rng, sigmas=np.linspace(0.2, 8.0, 40))
    assert 0.2 < sigma < 8.0
    assert np.median(anonymity_set_size(add_noise(population, sigma, rng), population, sigma)) >= 2
