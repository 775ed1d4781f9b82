"""GroupAssigner: noise + keyed LSH of the epoch in force, rotation, calibration, deletion."""

from __future__ import annotations

import numpy as np
import pytest

from sensors.privacy.grouping import GroupAssigner, delete_features
from sensors.privacy.keys import EpochKeys, SiteSecret
from sensors.privacy.lsh import KeyedLsh

DAY = 86_400.0


def random_unit(n: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, 1024), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def keys() -> EpochKeys:
    return EpochKeys(SiteSecret(bytes(range(32))), rotation_hours=24)


def test_without_noise_the_assigner_is_the_epoch_hash() -> None:
    now = [10 * DAY + 5.0]
    assigner = GroupAssigner(keys(), 0.0, clock=lambda: now[0])
    x = random_unit(50, np.random.default_rng(0))
    expected = KeyedLsh(keys().key_for(10)).groups(x)
    assert [assigner.assign(v) for v in x] == expected.tolist()
    assert assigner.epoch == 10
    now[0] += DAY
    assert assigner.epoch == 11
    rotated = [assigner.assign(v) for v in x]
    assert rotated == KeyedLsh(keys().key_for(11)).groups(x).tolist()
    assert [assigner.assign(v, at=10 * DAY + 9) for v in x] == expected.tolist()  # a late frame


def test_the_next_epochs_are_calibrated_from_this_epochs_traffic() -> None:
    rng = np.random.default_rng(1)
    now = [0.0]
    assigner = GroupAssigner(keys(), 0.1, clock=lambda: now[0], rng=rng, min_calibration_count=500)
    for v in random_unit(600, rng):
        assigner.assign(v)
    assert not assigner.calibrated
    now[0] = DAY
    assigner.assign(random_unit(1, rng)[0])
    assert assigner.calibrated
    now[0] = 2 * DAY  # a quiet day 1 (1 person): day 2 is still calibrated, measured ahead on day 0
    assigner.assign(random_unit(1, rng)[0])
    assert assigner.calibrated
    now[0] = 9 * DAY  # beyond the week of look-ahead: nothing was measured under day 9's key
    assigner.assign(random_unit(1, rng)[0])
    assert not assigner.calibrated


def test_noise_makes_one_image_land_in_varying_groups() -> None:
    assigner = GroupAssigner(keys(), 0.5, clock=lambda: 0.0, rng=np.random.default_rng(2))
    x = random_unit(1, np.random.default_rng(3))[0]
    groups = {assigner.assign(x) for _ in range(50)}
    assert len(groups) > 5


def test_bad_embeddings_are_rejected_and_inputs_untouched() -> None:
    assigner = GroupAssigner(keys(), 0.2, clock=lambda: 0.0)
    with pytest.raises(ValueError, match="1024 values"):
        assigner.assign(np.ones(10, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        assigner.assign(np.full(1024, np.nan, np.float32))
    with pytest.raises(ValueError, match="sigma"):
        GroupAssigner(keys(), -1.0)
    x = random_unit(1, np.random.default_rng(4))[0]
    copy = x.copy()
    assigner.assign(x)
    assert np.array_equal(x, copy)


def test_delete_features_zeroes_in_place() -> None:
    a = np.ones((3, 4), np.float32)
    b = np.arange(5.0)
    delete_features(a, b)
    assert not a.any() and not b.any()
