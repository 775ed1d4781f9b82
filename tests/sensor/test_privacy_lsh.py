"""Keyed LSH: deterministic per key, changes with the key, 1,000 balanced groups, locality."""

from __future__ import annotations

import numpy as np

from sensors.privacy.lsh import KeyedLsh, ProjectionStats

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
# Chi-square with 999 degrees of freedom: mean 999, sd 44.7; this is about 5 sd above (p < 1e-6).
CHI2_999_LIMIT = 1230.0


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chi_square(groups: np.ndarray) -> float:
    counts = np.bincount(groups, minlength=1000)
    expected = len(groups) / 1000
    return float(((counts - expected) ** 2 / expected).sum())


def test_same_key_same_groups_other_key_other_groups() -> None:
    x = random_unit(2000, 1024, np.random.default_rng(1))
    first = KeyedLsh(KEY_A).groups(x)
    assert np.array_equal(first, KeyedLsh(KEY_A).groups(x))
    other = KeyedLsh(KEY_B).groups(x)
    assert (first == other).mean() < 0.01  # about 1/1000 by chance


def test_groups_are_all_thousand_and_balanced_on_random_unit_vectors() -> None:
    rng = np.random.default_rng(2)
    lsh = KeyedLsh(KEY_A)
    groups = np.concatenate([lsh.groups(random_unit(10_000, 1024, rng)) for _ in range(6)])
    assert groups.min() >= 0 and groups.max() <= 999
    assert len(np.unique(groups)) == 1000
    assert chi_square(groups) < CHI2_999_LIMIT
    # Two different random vectors share a group at about the 1/1000 rate.
    assert 0.0006 < (groups[:30_000] == groups[30_000:]).mean() < 0.0015


def test_nearby_vectors_collide_more_than_far_ones() -> None:
    rng = np.random.default_rng(3)
    lsh = KeyedLsh(KEY_A)
    x = random_unit(8_000, 1024, rng)
    near = x + 0.1 * random_unit(8_000, 1024, rng)
    far = x + 0.6 * random_unit(8_000, 1024, rng)
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    same_near = (lsh.groups(x) == lsh.groups(unit(near))).mean()
    same_far = (lsh.groups(x) == lsh.groups(unit(far))).mean()
    assert same_near > 0.4
    assert same_far < same_near / 3
    assert same_far > 0.002  # still above chance


def test_calibration_restores_balance_on_an_off_centre_population() -> None:
    # Real descriptors share a mean direction and a few dominant axes: uncalibrated cells crowd.
    rng = np.random.default_rng(4)
    mean = random_unit(1, 1024, rng)[0]
    axes = random_unit(40, 1024, rng) * np.linspace(0.3, 0.05, 40)[:, None]

    def population(n: int) -> np.ndarray:
        x = mean + rng.standard_normal((n, 40), dtype=np.float32) @ axes + 0.2 * random_unit(n, 1024, rng)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    raw = KeyedLsh(KEY_A)
    stats = ProjectionStats.from_projections(raw.project(population(8_000)))
    test = population(20_000)
    assert chi_square(raw.groups(test)) > 10 * CHI2_999_LIMIT
    calibrated = KeyedLsh(KEY_A, calibration=stats).groups(test)
    assert chi_square(calibrated) < CHI2_999_LIMIT


def test_repr_reveals_nothing() -> None:
    assert "0, 1, 2" not in repr(KeyedLsh(KEY_A)) and "KeyedLsh(<keyed>" in repr(KeyedLsh(KEY_A))
