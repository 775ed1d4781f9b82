"""The LSH calibration survives a restart: stored aggregates only, checked on reading, never fatal."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from sensors.privacy.calibration import (
    CalibrationFileError,
    CalibrationStore,
    _digest,
    calibration_path_for,
)
from sensors.privacy.grouping import GroupAssigner
from sensors.privacy.keys import EpochKeys, SiteSecret
from sensors.privacy.lsh import KeyedLsh, ProjectionStats
from sensors.service import calibration_store, create_service
from sensors.settings import load_sensor_config

from .conftest import requires_models, site_dict, write_clip, write_site

DAY = 86_400.0
KEYS = EpochKeys(SiteSecret(bytes(range(32))), rotation_hours=24)
MIN_PERSONS = 500
# Chi-square of 1,000 group counts, 999 degrees of freedom: mean 999, sd 44.7; about 5 sd above.
CHI2_999_LIMIT = 1230.0


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Crowd:
    """Anisotropic unit embeddings like real descriptors: a shared mean direction and a few dominant axes."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.mean = unit(self.rng.standard_normal(1024))
        self.axes = unit(self.rng.standard_normal((40, 1024))) * np.linspace(0.3, 0.05, 40)[:, None]

    def draw(self, n: int) -> np.ndarray:
        noise = 0.2 * unit(self.rng.standard_normal((n, 1024)))
        return unit(self.mean + self.rng.standard_normal((n, 40)) @ self.axes + noise)


def chi_square(groups: np.ndarray) -> float:
    counts = np.bincount(groups, minlength=1000)
    expected = len(groups) / 1000
    return float(((counts - expected) ** 2 / expected).sum())


def collision_rate(groups: np.ndarray) -> float:
    """Chance that two different persons of the crowd share a group: p_diff (plus 1/n from the sample)."""
    shares = np.bincount(groups, minlength=1000) / len(groups)
    return float(shares @ shares)


def store(tmp_path: Path, keys: EpochKeys = KEYS, min_persons: int = MIN_PERSONS) -> CalibrationStore:
    return CalibrationStore(calibration_path_for(tmp_path / "site.key"), keys.fingerprint(), min_persons)


def assigner_at(now: float, calibration: CalibrationStore | None, seed: int = 0) -> GroupAssigner:
    return GroupAssigner(
        KEYS,
        0.2,
        clock=lambda: now,
        rng=np.random.default_rng(seed),
        min_calibration_count=MIN_PERSONS,
        store=calibration,
    )


def stats(count: int, seed: int = 0) -> ProjectionStats:
    rng = np.random.default_rng(seed)
    root = rng.standard_normal((3, 3))
    return ProjectionStats(rng.standard_normal(3), root @ root.T + np.eye(3), count)


def rewrite(path: Path, edit: object) -> None:
    """Apply ``edit`` to the stored body and re-seal it with a valid checksum (a well-formed but wrong file)."""
    data = json.loads(path.read_text())
    data.pop("sha256")
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps({**data, "sha256": _digest(data)}))


def test_round_trip_keeps_every_ready_epoch_exactly(tmp_path: Path) -> None:
    calibration = store(tmp_path)
    saved = {20_000: stats(600, 1), 20_001: stats(5_000, 2)}
    assert calibration.save(saved) == 2
    loaded = calibration.load()
    assert sorted(loaded) == [20_000, 20_001]
    for epoch, expected in saved.items():
        np.testing.assert_array_equal(loaded[epoch].mean, expected.mean)
        np.testing.assert_array_equal(loaded[epoch].covariance, expected.covariance)
        assert loaded[epoch].count == expected.count
    assert stat.S_IMODE(calibration.path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["site.lsh-calibration.json"]  # no temporary file left
    assert store(tmp_path / "absent").load() == {}


def test_minimum_persons_guard_on_writing_and_on_reading(tmp_path: Path) -> None:
    calibration = store(tmp_path)
    assert calibration.save({1: stats(MIN_PERSONS - 1), 2: stats(MIN_PERSONS)}) == 1
    assert sorted(calibration.load()) == [2]
    rewrite(calibration.path, lambda data: data["epochs"][0].update(persons=3))
    with pytest.raises(CalibrationFileError, match="3 passes, fewer than the minimum of 500"):
        calibration.load()
    calibration.save({2: stats(MIN_PERSONS)})
    with pytest.raises(CalibrationFileError, match="fewer than the minimum of 800"):
        store(tmp_path, min_persons=800).load()  # the site raised its minimum since


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.write_text(path.read_text()[:-40]), "not valid JSON"),
        (lambda path: path.write_bytes(b"\xff\xfe garbage"), "cannot read"),
        (lambda path: path.write_text(path.read_text().replace('"persons": 600', '"persons": 601')), "checksum"),
        (lambda path: path.write_text("[1, 2, 3]"), "is not an individ-lsh-calibration/1 file"),
        (lambda path: rewrite(path, lambda d: d.update(secret_fingerprint="00" * 8)), "another site secret"),
        (lambda path: rewrite(path, lambda d: d["epochs"][0].update(mean=[1, 2])), "mean must hold 3"),
        (lambda path: rewrite(path, lambda d: d["epochs"][0].update(mean=["a", 1, 2])), "must be numbers"),
        (lambda path: rewrite(path, lambda d: d["epochs"][0].update(covariance=[[0] * 3] * 3)), "positive definite"),
        (lambda path: rewrite(path, lambda d: d["epochs"][0].update(covariance=[[1, 2, 3]] * 3)), "not symmetric"),
        (lambda path: rewrite(path, lambda d: d["epochs"][0].update(vectors=[[0.1] * 1024])), "exactly epoch"),
        (lambda path: rewrite(path, lambda d: d["epochs"].append(d["epochs"][0])), "appears twice"),
    ],
)
def test_a_damaged_or_foreign_file_is_rejected_with_its_reason(tmp_path: Path, damage: object, message: str) -> None:
    calibration = store(tmp_path)
    calibration.save({7: stats(600)})
    damage(calibration.path)  # type: ignore[operator]
    with pytest.raises(CalibrationFileError, match=message):
        calibration.load()


def test_a_rejected_file_means_uncalibrated_and_a_log_line_never_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calibration = store(tmp_path)
    calibration.path.write_text('{"format": "individ-lsh-calibration/1", "epochs": [')
    with caplog.at_level(logging.INFO, logger="sensors.privacy.grouping"):
        assigner = assigner_at(3 * DAY, calibration)
        group = assigner.assign(Crowd(1).draw(1)[0])
    assert 0 <= group < 1000 and not assigner.calibrated
    messages = [record.getMessage() for record in caplog.records]
    assert any("calibration file rejected" in m and "not valid JSON" in m for m in messages)
    assert any("key epoch 3 hashes UNCALIBRATED" in m for m in messages)


def test_a_failed_save_is_logged_and_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calibration = store(tmp_path)
    calibration.save({5: stats(600)})
    before = calibration.path.read_bytes()
    assigner = assigner_at(5 * DAY, calibration)
    for x in Crowd(2).draw(MIN_PERSONS):
        assigner.assign(x)

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with caplog.at_level(logging.ERROR, logger="sensors.privacy.grouping"):
        assert assigner.save_calibration() is None
    assert "No space left on device" in caplog.text
    assert calibration.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["site.lsh-calibration.json"]


def test_the_file_holds_aggregates_only_whatever_the_traffic(tmp_path: Path) -> None:
    sizes = []
    for persons in (MIN_PERSONS, 4 * MIN_PERSONS):
        calibration = store(tmp_path / str(persons))
        assigner = assigner_at(10 * DAY, calibration)
        for x in Crowd(3).draw(persons):
            assigner.assign(x)
        assert assigner.save_calibration() == 7  # the next week's epochs, each measured on every pass
        data = json.loads(calibration.path.read_text())
        assert [entry["epoch"] for entry in data["epochs"]] == list(range(11, 18))
        for entry in data["epochs"]:
            assert entry["persons"] == persons
            assert np.shape(entry["mean"]) == (3,) and np.shape(entry["covariance"]) == (3, 3)
        sizes.append(calibration.path.stat().st_size)
    assert max(sizes) < 8_000  # 13 numbers per epoch: no room for a row per person (one embedding is 1,024)
    assert abs(sizes[0] - sizes[1]) < 200  # four times the persons, the same size


def test_a_restart_starts_calibrated_on_the_stored_aggregate(tmp_path: Path) -> None:
    crowd = Crowd(4)
    calibration = store(tmp_path)
    before = assigner_at(100 * DAY, calibration, seed=1)
    for x in crowd.draw(3_000):
        before.assign(x)
    before.save_calibration()

    after_restart_next_day = assigner_at(101 * DAY + 3_600, calibration, seed=2)
    after_three_days_down = assigner_at(103 * DAY, calibration, seed=3)
    without_file = assigner_at(101 * DAY + 3_600, None, seed=2)
    test = crowd.draw(10_000)
    restored = np.array([after_restart_next_day.assign(x) for x in test])
    later = np.array([after_three_days_down.assign(x) for x in test])
    uncalibrated = np.array([without_file.assign(x) for x in test])
    assert after_restart_next_day.calibrated and after_three_days_down.calibrated and not without_file.calibrated
    # Cell balance is what p_diff measures: balanced again from the first pass after a restart.
    assert chi_square(uncalibrated) > 10 * CHI2_999_LIMIT
    assert chi_square(restored) < CHI2_999_LIMIT and chi_square(later) < CHI2_999_LIMIT
    assert collision_rate(uncalibrated) > 0.002 and collision_rate(restored) < 0.0012


def test_a_restart_within_the_epoch_keeps_the_calibration_in_force(tmp_path: Path) -> None:
    crowd = Crowd(5)
    calibration = store(tmp_path)
    first = assigner_at(200 * DAY, calibration)
    for x in crowd.draw(MIN_PERSONS):
        first.assign(x)
    first.save_calibration()
    second = assigner_at(201 * DAY, calibration)
    second.assign(crowd.draw(1)[0])
    assert second.calibrated
    second.save_calibration()  # before it has seen MIN_PERSONS itself: epoch 201's calibration is kept
    third = assigner_at(201 * DAY + 7_200, calibration)
    third.assign(crowd.draw(1)[0])
    assert third.calibrated
    third.save_calibration()
    stored = calibration.load()
    assert stored[201].count == MIN_PERSONS
    assert stored[202].count == MIN_PERSONS + 2  # restored sums go on accumulating across restarts


def test_the_stored_statistics_are_those_of_the_epochs_own_key(tmp_path: Path) -> None:
    crowd = Crowd(6)
    calibration = store(tmp_path)
    assigner = GroupAssigner(KEYS, 0.0, clock=lambda: 300 * DAY, min_calibration_count=MIN_PERSONS, store=calibration)
    sample = crowd.draw(MIN_PERSONS)
    for x in sample:
        assigner.assign(x)
    assigner.save_calibration()
    expected = ProjectionStats.from_projections(KeyedLsh(KEYS.key_for(302)).project(sample))
    stored = calibration.load()[302]
    np.testing.assert_allclose(stored.mean, expected.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stored.covariance, expected.covariance, rtol=1e-4, atol=1e-6)


def test_calibration_is_never_stored_in_the_landing_zone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    landing = tmp_path / "landing"
    fingerprint = KEYS.fingerprint()
    assert calibration_store(landing / "keys" / "site.key", str(landing), fingerprint, MIN_PERSONS) is None
    assert "not stored" in caplog.text
    apart = calibration_store(tmp_path / "keys" / "site.key", str(landing), fingerprint, MIN_PERSONS)
    assert apart is not None and apart.path == tmp_path / "keys" / "site.lsh-calibration.json"
    assert calibration_store(landing / "site.key", "s3://bucket/landing", fingerprint, MIN_PERSONS) is not None


@requires_models
def test_the_service_rotates_at_the_sites_hour_and_saves_its_calibration_on_exit(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    site = site_dict({"cam-a": str(clip)}, tmp_path / "landing", sensor={"key_file": str(tmp_path / "keys" / "s.key")})
    site["site"]["timezone"] = "Europe/Paris"
    site["privacy"]["key_rotation_local_hour"] = 6
    service = create_service(load_sensor_config(write_site(tmp_path / "site.yaml", site)), None)
    # Heartbeats carry the epoch: it changes at 06:00 winter time (05:00 UTC), 07:00 local in summer.
    before, at = (dt.datetime(2026, 7, 15, 4, 59, tzinfo=dt.UTC), dt.datetime(2026, 7, 15, 5, 0, tzinfo=dt.UTC))
    assert service.emitter.key_epoch(at) == service.emitter.key_epoch(before) + 1
    assert service.run(max_seconds=60) == 0
    saved = tmp_path / "keys" / "s.lsh-calibration.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["epochs"] == []  # a few frames: far fewer passes than the minimum
