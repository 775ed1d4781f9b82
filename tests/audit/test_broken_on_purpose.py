"""Each privacy property broken on purpose makes its guarantee fail (and only the audit's figures change)."""

import datetime as dt
import os
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from individ.audit import Status, failed_guarantees
from individ.audit.deletion import measure_deletion
from individ.audit.keys import measure_keys
from individ.site_config import parse_site_config
from tests.audit.conftest import GOOD_HOURS, GOOD_TRAFFIC, audit, audit_generated
from tests.audit.sitegen import START, Breakage, generate, site_config


def failed_ids(report) -> set[str]:
    return {g.id for g in failed_guarantees(report)}


def test_no_noise_configured(tmp_path: Path) -> None:
    site = audit_generated(tmp_path, config=site_config(noise_sigma=0.0))
    assert "noise.configured" in failed_ids(site.report)


def test_no_fictitious_persons(tmp_path: Path) -> None:
    site = audit_generated(tmp_path, breakage=Breakage(no_fictitious=True))
    assert {"groups.cells_below_min", "groups.plan_matches_config"} <= failed_ids(site.report)


def test_minimum_configured_below_three(tmp_path: Path) -> None:
    site = audit_generated(tmp_path, config=site_config(min_members=1.0))
    assert "groups.min_members_configured" in failed_ids(site.report)


def test_demographics_written_per_person(tmp_path: Path) -> None:
    site = audit_generated(tmp_path, breakage=Breakage(demographics_per_person=True))
    failed = failed_ids(site.report)
    assert {"linkage.demographic_aggregation", "linkage.demographic_time_join"} <= failed
    figures = site.report.section("linkage").figures
    assert figures["demographic_rows_count_1_off_boundary"] > 0


def test_groups_derived_from_gender(tmp_path: Path) -> None:
    # The fictitious floor (2 per group and camera-hour) dilutes the leak: enough real traffic to see it.
    site = audit_generated(
        tmp_path, hours=GOOD_HOURS, traffic=3 * GOOD_TRAFFIC, breakage=Breakage(groups_from_gender=True)
    )
    assert "inference.gender_classifier" in failed_ids(site.report)
    assert site.report.section("inference").figures["gender"]["mi_z"] > 4


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("occurrences/date=2026-11-02/hour=08/snapshot.jpg", b"\xff\xd8\xff\xe0" + bytes(200), "image (JPEG)"),
        ("debug/crop.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "image (PNG)"),
        ("occurrences/features.npy", b"\x93NUMPY\x01\x00" + bytes(100), "array (NumPy .npy)"),
        ("notes.txt", b"person in red coat at 10:02\n", "unexpected file"),
    ],
)
def test_stray_file_in_landing_zone(tmp_path: Path, name: str, content: bytes, kind: str) -> None:
    config = site_config()
    generate(tmp_path / "landing", config, hours=1)
    stray = tmp_path / "landing" / name
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(content)
    report = audit(config, tmp_path, 1)
    assert "deletion.landing_zone_scan" in failed_ids(report)
    assert any(row[2] == kind for table in report.section("deletion").tables for row in table.rows)


def test_parquet_with_an_extra_column_in_landing_zone(tmp_path: Path) -> None:
    config = site_config()
    generate(tmp_path / "landing", config, hours=1)
    folder = tmp_path / "landing" / "occurrences" / "date=2026-11-02" / "hour=08"
    pl.DataFrame({"camera_id": ["entrance"], "embedding": [[0.1] * 8]}).write_parquet(folder / "occ-extra.parquet")
    assert "deletion.landing_zone_scan" in failed_ids(audit(config, tmp_path, 1))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("site.key", os.urandom(32).hex().encode() + b"\n"),  # the sensor's own key file format
        ("backup/blob.bin", os.urandom(4096)),  # an unnamed high-entropy blob
    ],
)
def test_key_material_in_landing_zone(tmp_path: Path, name: str, content: bytes) -> None:
    config = site_config()
    generate(tmp_path / "landing", config, hours=1)
    target = tmp_path / "landing" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    report = audit(config, tmp_path, 1)
    assert "keys.no_key_material_stored" in failed_ids(report)


def test_key_file_configured_under_the_landing_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INDIVID_SENSOR_KEY_FILE", raising=False)
    base = site_config().model_dump(mode="json")
    config = parse_site_config({**base, "sensor": {"key_file": str(tmp_path / "landing" / "keys" / "site.key")}})
    generate(tmp_path / "landing", config, hours=1)
    assert "keys.key_file_apart" in failed_ids(audit(config, tmp_path, 1))


def test_warehouse_scan(tmp_path: Path) -> None:
    config = site_config()
    generate(tmp_path / "landing", config, hours=1)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema raw")
        connection.execute(
            "create table raw.occurrences (schema_version smallint, site_id varchar, sensor_id varchar, "
            "segment_id varchar, camera_id varchar, observed_at timestamptz, group_id smallint, direction varchar, "
            "ingested_at timestamptz)"
        )
        connection.execute(
            "insert into raw.occurrences values (1, 'test-mall', 'sensor-1', 'occ-1', 'entrance', "
            "now(), 5, 'in', now())"
        )
    clean = audit(config, tmp_path, 1, warehouse)
    assert clean.guarantee("deletion.warehouse_scan").status is Status.PASS
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create table raw.person_features (track_id integer, embedding float[])")
        connection.execute("create table raw.crops (camera_id varchar, pixels blob)")
        connection.execute("create table raw.notes (camera_id varchar, note varchar)")
        connection.execute(
            "insert into raw.notes values ('entrance', 'woman in a red coat with a child, about forty years old')"
        )
        connection.execute("create table raw.settings (name varchar, value varchar)")
        connection.execute(f"insert into raw.settings values ('lsh', '{os.urandom(32).hex()}')")
        connection.execute("alter table raw.occurrences add column face_box varchar")
    broken = audit(config, tmp_path, 1, warehouse)
    assert {"deletion.warehouse_scan", "keys.no_key_material_stored"} <= failed_ids(broken)
    kinds = {row[2] for table in broken.section("deletion").tables for row in table.rows}
    assert {"float vector", "binary column", "free text", "unexpected column"} <= kinds


def _heartbeats(epochs: list[int], p99: float = 30.0) -> pl.DataFrame:
    minutes = [START + dt.timedelta(hours=i) for i in range(len(epochs))]
    n = len(minutes)
    return pl.DataFrame(
        {
            "sensor_id": ["sensor-1"] * n,
            "camera_id": ["entrance"] * n,
            "minute_start": minutes,
            "frames_processed": [600] * n,
            "latency_p50_ms": [8.0] * n,
            "latency_p99_ms": [p99] * n,
            "lsh_key_epoch": epochs,
        }
    )


def test_key_not_rotated() -> None:
    config = site_config()
    daily = measure_keys(config, _heartbeats([1] * 24 + [2] * 24), [], None, Path("/nonexistent/k"), [])
    assert daily.guarantees[0].status is Status.PASS
    stuck = measure_keys(config, _heartbeats([1] * 48), [], None, Path("/nonexistent/k"), [])
    assert stuck.guarantees[0].status is Status.FAIL
    backwards = measure_keys(config, _heartbeats([2] * 3 + [1] * 3), [], None, Path("/nonexistent/k"), [])
    assert backwards.guarantees[0].status is Status.FAIL


def test_slow_deletion() -> None:
    assert measure_deletion(_heartbeats([1] * 10, p99=40.0), [], None, "").guarantees[0].status is Status.PASS
    slow = measure_deletion(_heartbeats([1] * 10, p99=450.0), [], None, "")
    assert slow.guarantees[0].status is Status.FAIL
    assert np.isclose(slow.figures["latency_p99_ms"], 450.0)


def test_damaged_segments_are_not_leaks(tmp_path: Path) -> None:
    """A truncated segment (Parquet magic) is the ingestion's to quarantine; a non-Parquet one is a finding."""
    config = site_config()
    generate(tmp_path / "landing", config, hours=1)
    folder = tmp_path / "landing" / "occurrences" / "date=2026-11-02" / "hour=08"
    (folder / "occ-sensor-1-20261102T08-truncated.parquet").write_bytes(b"PAR1 cut short")
    report = audit(config, tmp_path, 1)
    assert report.guarantee("deletion.landing_zone_scan").status is Status.PASS
    assert len(report.inputs["unreadable_segments"]) == 1
    (folder / "occ-sensor-1-20261102T08-text.parquet").write_bytes(b"hello, this is a note about a visitor")
    assert "deletion.landing_zone_scan" in failed_ids(audit(config, tmp_path, 1))
