"""Grouping and noise measured with the sensor's own embedding, noise and keyed hash."""

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from individ.audit import latest_sensor_figures, run_audit, write_report
from individ.audit.model import SensorFigures, Status
from individ.audit.sensor_sections import grouping_section, noise_section
from tests.audit.sitegen import START, generate, site_config

audit_grouping = pytest.importorskip("sensors.audit_grouping")


@pytest.fixture(scope="module")
def generated():
    return audit_grouping.generated_sightings(np.random.default_rng(1), identities=40, per_camera=2)


def _sections(sightings, sigma: float):
    rng = np.random.default_rng(2)
    figures = SensorFigures(
        grouping=[audit_grouping.measure_grouping(sightings, sigma, rng, keys=3)],
        noise=audit_grouping.measure_noise(sightings, sigma, rng, keys=3),
        embedding="built-in",
    )
    config = site_config(noise_sigma=sigma)
    return figures, grouping_section(figures, ""), noise_section(config, figures, "")


def test_generated_pairs_with_configured_noise(generated) -> None:
    figures, grouping, noise = _sections(generated, 0.3)
    measured = figures.grouping[0]
    assert measured.same_pairs == 40 * 2 * 2 and measured.identities == 40
    assert measured.p_diff.low <= measured.p_diff.estimate <= measured.p_diff.high
    assert grouping.guarantees[0].status is Status.PASS  # balanced groups: p_diff about 1/1000
    assert [g.status for g in noise.guarantees] == [Status.PASS, Status.PASS]
    assert figures.noise is not None and figures.noise.median >= 1


def test_no_noise_lets_an_attacker_with_the_key_confirm_groups(generated) -> None:
    figures, _, noise = _sections(generated, 0.0)
    assert figures.noise is not None and figures.noise.attacker_hit_rate == 1.0
    assert {g.id for g in noise.guarantees if g.status is Status.FAIL} == {
        "noise.configured",
        "noise.attacker_hit_rate",
    }


def test_a_collapsed_embedding_crowds_one_group(generated) -> None:
    # A broken descriptor that gives everybody the same vector: without noise everybody shares a group.
    collapsed = audit_grouping.Sightings(
        "collapsed",
        False,
        np.repeat(generated.embeddings[:1], len(generated.identities), axis=0),
        generated.identities,
        generated.cameras,
    )
    _, grouping, _ = _sections(collapsed, 0.0)
    assert grouping.guarantees[0].status is Status.FAIL


@pytest.mark.shared_data
def test_real_cross_camera_pairs() -> None:
    shared = audit_grouping.shared_data_dir()
    if shared is None or not (shared / "reid" / "cuhk03_subset" / "labels.csv").is_file():
        pytest.skip("shared re-identification data absent (../shared/data/reid/cuhk03_subset)")
    sightings = audit_grouping.load_reid_set(Path(shared) / "reid" / "cuhk03_subset", max_identities=40)
    assert sightings.real_images and set(sightings.cameras) == {"1", "2"}
    _, grouping, _ = _sections(sightings, 0.05)
    assert grouping.guarantees[0].status is Status.PASS


def test_measurements_travel_through_the_report_json(generated, tmp_path: Path) -> None:
    """A scheduled audit (no OpenCV) reuses the last CLI run's sensor measurements from its JSON."""
    figures, _, _ = _sections(generated, 0.3)
    config = site_config(noise_sigma=0.3)
    generate(tmp_path / "landing", config, hours=1)
    report = run_audit(
        config,
        landing_root=str(tmp_path / "landing"),
        start=START,
        end=START + dt.timedelta(hours=1),
        sensor_figures=figures,
        sensor_note="measured in this run",
    )
    write_report(report, config, tmp_path / "reports")
    found = latest_sensor_figures(tmp_path / "reports")
    assert found is not None and found[0] == figures
    assert latest_sensor_figures(tmp_path / "nothing-here") is None
