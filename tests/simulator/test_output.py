"""The simulator's events: deterministic, contract-valid, and in agreement with its ground truth."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from individ.contract import HEARTBEAT_HOUR_TOTALS, ContractViolation, LandingZone, Stream
from individ.fictitious import direction_mix, plan_per_group
from individ.simulator import TRUTH_TABLES, Imperfections, SimulationResult
from individ.simulator.visitors import DIRECTION_OF_ROLE
from individ.site_config import CameraRole, CountingLine, SiteConfig

Run = Callable[..., SimulationResult]

LOUD_IMPERFECTIONS = Imperfections(
    missed_detection_rate=0.05,
    double_count_rate=0.05,
    outages_per_camera_day=0.5,
    late_segment_rate=0.2,
    duplicate_segment_rate=0.2,
    malformed_segments=1,
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _landing(result: SimulationResult, stream: Stream) -> pl.DataFrame:
    zone = LandingZone(result.landing)
    tables = [zone.read(segment) for segment in zone.segments(stream)]
    return pl.from_arrow(pa.concat_tables(tables))  # type: ignore[return-value]


def _truth(result: SimulationResult, name: str) -> pl.DataFrame:
    return pl.read_parquet(result.truth / f"{name}.parquet")


@pytest.fixture(scope="module")
def clean(run: Run, site: SiteConfig, tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return run(site, tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def imperfect(run: Run, site: SiteConfig, tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return run(site, tmp_path_factory.mktemp("imperfect"), imperfections=LOUD_IMPERFECTIONS)


def test_same_seed_gives_identical_files_and_segment_ids(
    run: Run, site: SiteConfig, tmp_path: Path, clean: SimulationResult
) -> None:
    again = run(site, tmp_path / "again")
    first, second = _files(Path(clean.landing)), _files(Path(again.landing))
    assert first and first == second
    assert _files(clean.truth) == _files(again.truth)
    other = run(site, tmp_path / "other", seed=8)
    assert set(_files(Path(other.landing))) != set(first)


def test_every_segment_is_contract_valid(clean: SimulationResult) -> None:
    zone = LandingZone(clean.landing)
    for stream in Stream:
        segments = zone.segments(stream)
        assert segments, stream
        for segment in segments:
            zone.read(segment)  # raises ContractViolation if anything is off
    assert zone.quarantined() == []


def test_occurrences_at_cameras_without_a_counting_line_are_all_unknown(
    clean: SimulationResult, site: SiteConfig
) -> None:
    assert all(camera.counting_line is None for camera in site.cameras)  # the demo mall draws none
    occurrences = _landing(clean, Stream.OCCURRENCES)
    assert occurrences["direction"].unique().to_list() == ["unknown"]  # real and fictitious alike, as the sensor
    assert occurrences["sensor_id"].unique().sort().to_list() == ["sensor-north", "sensor-south"]


def test_directions_are_the_sensors_real_ones_and_the_fictitious_mix(
    run: Run, site: SiteConfig, tmp_path: Path, clean: SimulationResult
) -> None:
    """With counting lines everywhere but the corridors, a real pass takes its role's direction, a fictitious one
    the camera's fixed mix (85/5/10 at an entrance, ...), and the corridors stay 'unknown'; the times and groups
    of the seed do not move."""
    line = CountingLine.model_validate({"start": {"x": 0.5, "y": 0.0}, "end": {"x": 0.5, "y": 1.0}})
    cameras = [
        c if c.role is CameraRole.CORRIDOR else c.model_copy(update={"counting_line": line}) for c in site.cameras
    ]
    lined_site = site.model_copy(update={"cameras": cameras})
    lined = run(lined_site, tmp_path)
    occurrences = _landing(lined, Stream.OCCURRENCES)
    columns = ["camera_id", "observed_at", "group_id"]
    assert (
        occurrences.select(columns)
        .sort(columns)
        .equals(_landing(clean, Stream.OCCURRENCES).select(columns).sort(columns))
    )
    footfall = (
        _truth(lined, "true_footfall_hourly").group_by("camera_id").agg(pl.col("emitted_real", "fictitious").sum())
    )
    counts = occurrences.group_by("camera_id", "direction").len().pivot("direction", index="camera_id", values="len")
    by_role: dict[CameraRole, dict[str, int]] = {}
    for row in counts.join(footfall, on="camera_id").fill_null(0).iter_rows(named=True):
        camera = lined_site.camera(row["camera_id"])
        real_direction = DIRECTION_OF_ROLE[camera.role] if camera.counting_line else "unknown"
        if camera.counting_line is None:
            assert row.get("in", 0) == row.get("out", 0) == 0, camera.id
        totals = by_role.setdefault(camera.role, dict.fromkeys(("in", "out", "unknown", "fictitious"), 0))
        for direction in ("in", "out", "unknown"):
            totals[direction] += row.get(direction, 0) - (row["emitted_real"] if direction == real_direction else 0)
        totals["fictitious"] += row["fictitious"]
    assert set(by_role) == set(CameraRole)
    for role, totals in by_role.items():
        camera = next(c for c in cameras if c.role is role)
        for direction, share in direction_mix(camera).items():
            fictitious = totals["fictitious"]
            noise = (fictitious * share * (1 - share)) ** 0.5
            assert abs(totals[direction] - fictitious * share) <= 4 * noise, (role, direction, totals)


def test_truth_and_events_agree_per_camera_hour_without_imperfections(clean: SimulationResult) -> None:
    footfall = _truth(clean, "true_footfall_hourly")
    assert (footfall["real_passes"] == footfall["emitted_real"]).all()
    assert footfall.select(pl.col("missed", "lost_in_outage", "double_counts").sum()).row(0) == (0, 0, 0)
    occurrences = (
        _landing(clean, Stream.OCCURRENCES)
        .group_by(pl.col("observed_at").dt.truncate("1h").alias("hour"), "camera_id")
        .agg(pl.len().alias("occurrences"))
    )
    joined = footfall.join(occurrences, on=["hour", "camera_id"], how="full", coalesce=True).fill_null(0)
    assert (joined["occurrences"] - joined["fictitious"] == joined["real_passes"]).all()
    heartbeats = (
        _landing(clean, Stream.HEARTBEATS)
        .group_by(pl.col("minute_start").dt.truncate("1h").alias("hour"), "camera_id")
        .agg(pl.col("occurrences_emitted", "fictitious_emitted").sum())
    )
    joined = joined.join(heartbeats, on=["hour", "camera_id"], how="full", coalesce=True).fill_null(0)
    assert (joined["occurrences_emitted"] == joined["real_passes"]).all()
    assert (joined["fictitious_emitted"] == joined["fictitious"]).all()
    flows = _truth(clean, "true_flows_hourly")
    assert (flows["pairs"] == flows["pairs_observed"]).all() and flows["pairs"].sum() > 0


def test_fictitious_persons_follow_the_published_plan(clean: SimulationResult, site: SiteConfig) -> None:
    heartbeats = _landing(clean, Stream.HEARTBEATS)
    k = site.privacy.fictitious.min_members
    for camera_id, minute, plan in heartbeats.select("camera_id", "minute_start", "fictitious_plan_per_group").rows():
        local_hour = minute.astimezone(site.tz).hour
        assert plan == pytest.approx(plan_per_group(site.camera(camera_id).expected_passes(local_hour), k))
    per_hour = heartbeats.group_by(pl.col("minute_start").dt.truncate("1h"), "camera_id").agg(
        pl.col("fictitious_emitted").sum(), pl.col("fictitious_plan_per_group").first(), pl.len().alias("minutes")
    )
    assert per_hour["minutes"].min() < 60  # the sensor starts and stops within an hour ...
    for emitted, plan in per_hour.select("fictitious_emitted", "fictitious_plan_per_group").rows():
        expected = 1000 * plan  # ... and, as the real sensor, still adds that hour's whole plan there
        assert abs(emitted - expected) <= 5 * expected**0.5 + 1
    floor = int(k) - 1
    cells = (
        _landing(clean, Stream.OCCURRENCES)
        .group_by(pl.col("observed_at").dt.truncate("1h"), "camera_id", "group_id")
        .len()
    )
    assert cells["len"].min() >= floor  # so every cell, in the first and last hours too, reaches the floor


def test_demographic_cells_respect_the_small_cell_minimum(clean: SimulationResult, site: SiteConfig) -> None:
    demographics = _landing(clean, Stream.DEMOGRAPHICS)
    assert demographics["count"].min() >= site.privacy.min_cell_size
    assert set(demographics["window_minutes"].unique()) == {site.privacy.demographics_window_minutes}
    truth = _truth(clean, "true_demographics")
    # Without classifier errors the released counts never exceed the truth and lose only small cells.
    released, true_total = demographics["count"].sum(), truth["persons"].sum()
    assert 0.5 * true_total < released <= true_total


def test_meta_describes_the_run(clean: SimulationResult) -> None:
    meta = json.loads((clean.truth / "meta.json").read_text())
    assert meta["seed"] == 7 and meta["p"] == 0.5 and meta["n_groups"] == 1000 and meta["max_lag_minutes"] == 30
    day = meta["days"][0]
    assert day["occurrences_emitted"] == day["real_emitted"] + day["fictitious_emitted"]
    assert day["real_emitted"] == day["real_passes"]
    assert sorted(p.name for p in clean.truth.iterdir()) == sorted(
        [*(f"{t}.parquet" for t in TRUTH_TABLES), "meta.json"]
    )


def test_imperfections_are_produced_and_recorded(imperfect: SimulationResult) -> None:
    footfall = _truth(imperfect, "true_footfall_hourly")
    totals = footfall.group_by("camera_id").agg(
        pl.col("real_passes", "missed", "lost_in_outage", "double_counts", "emitted_real", "fictitious").sum()
    )
    assert totals["missed"].sum() > 0 and totals["double_counts"].sum() > 0
    assert (
        totals["real_passes"] - totals["missed"] - totals["lost_in_outage"] + totals["double_counts"]
        == totals["emitted_real"]
    ).all()
    zone = LandingZone(imperfect.landing)
    valid = list(zone.read_valid(Stream.OCCURRENCES))
    assert sum(table.num_rows for _, table in valid) == totals["emitted_real"].sum() + totals["fictitious"].sum()
    assert len(zone.quarantined()) == 1  # the malformed file, set aside by the reader
    meta = json.loads((imperfect.truth / "meta.json").read_text())
    outages = meta["days"][0]["outages"]
    assert outages and any(skew != 0 for skew in meta["days"][0]["clock_skew_seconds"].values())
    heartbeats = _landing(imperfect, Stream.HEARTBEATS)
    for outage in outages:
        start = dt.datetime.fromisoformat(outage["start"])
        end = dt.datetime.fromisoformat(outage["end"])
        during = heartbeats.filter(
            (pl.col("camera_id") == outage["camera_id"]) & pl.col("minute_start").is_between(start, end, closed="left")
        )
        if outage["heartbeats"] == "missing":
            assert during.height == 0
        else:
            assert during.height > 0 and set(during["stream_status"]) == {"down"}


def test_heartbeats_carry_the_hour_totals_on_the_last_row_the_sensor_wrote(imperfect: SimulationResult) -> None:
    """As the sensor: person-following fields only on the last row of each stretch the sensor ran in an hour
    (the hour's last minute, or the minute before a missing outage: the sensor stopped there), summing to the truth."""
    minute = dt.timedelta(minutes=1)
    heartbeats = (
        _landing(imperfect, Stream.HEARTBEATS)
        .sort("camera_id", "minute_start")
        .with_columns(
            pl.col("minute_start").dt.truncate("1h").alias("hour"),
            pl.col("minute_start").shift(-1).over("camera_id").alias("next_minute"),
        )
        .with_columns(
            closing=pl.col("next_minute").is_null()
            | (pl.col("next_minute") != pl.col("minute_start") + minute)
            | (pl.col("minute_start").dt.minute() == 59),
            carrying=pl.any_horizontal([pl.col(name).fill_null(0) != 0 for name in HEARTBEAT_HOUR_TOTALS]),
        )
    )
    assert heartbeats.filter(pl.col("carrying") & ~pl.col("closing")).height == 0
    before_a_gap = heartbeats.filter(
        pl.col("carrying") & pl.col("next_minute").is_not_null() & (pl.col("minute_start").dt.minute() != 59)
    )
    assert before_a_gap.height > 0  # hours whose sensor stopped during a missing outage kept their totals
    per_hour = heartbeats.group_by("hour", "camera_id").agg(pl.col("occurrences_emitted", "fictitious_emitted").sum())
    truth = _truth(imperfect, "true_footfall_hourly").select("hour", "camera_id", "emitted_real", "fictitious")
    joined = truth.join(per_hour, on=["hour", "camera_id"], how="full", coalesce=True).fill_null(0)
    assert (joined["occurrences_emitted"] == joined["emitted_real"]).all()
    assert (joined["fictitious_emitted"] == joined["fictitious"]).all()


def test_late_and_duplicate_segments_are_delivered(imperfect: SimulationResult) -> None:
    deliveries = _truth(imperfect, "deliveries")
    late = deliveries.filter(pl.col("late") & ~pl.col("duplicate"))
    assert late.height > 0
    assert (late["delivered_at"] - late["window_start"] > dt.timedelta(hours=1)).all()
    # Delivered after segments of later hours, as the pipeline must cope with.
    order = deliveries.with_row_index("position")
    overtaken = [
        order.filter(
            (pl.col("position") < position) & (pl.col("window_start") >= window_start + dt.timedelta(hours=1))
        ).height
        for position, window_start in order.filter(pl.col("late") & ~pl.col("duplicate"))
        .select("position", "window_start")
        .rows()
    ]
    assert max(overtaken) > 0
    duplicates = deliveries.filter(pl.col("duplicate"))
    assert duplicates.height > 0
    first = deliveries.filter(~pl.col("duplicate"))
    assert set(duplicates["segment_id"]) <= set(first["segment_id"])  # same file, same id: idempotent


def test_withheld_segments_arrive_on_a_later_run(run: Run, site: SiteConfig, tmp_path: Path) -> None:
    cutoff = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    early = run(site, tmp_path, delivered_until=cutoff)
    early_files = _files(Path(early.landing))
    assert early.meta["segments"]["withheld"] > 0  # type: ignore[index]
    complete = run(site, tmp_path)
    complete_files = _files(Path(complete.landing))
    assert set(early_files) < set(complete_files)
    assert all(complete_files[name] == content for name, content in early_files.items())


def test_reading_a_malformed_file_fails_clearly(imperfect: SimulationResult, tmp_path: Path) -> None:
    bad = tmp_path / "occurrences" / "date=2026-11-02" / "hour=10" / "occ-x-20261102T10-bad.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PAR1 not parquet")
    zone = LandingZone(tmp_path)
    with pytest.raises(ContractViolation):
        zone.read(zone.segments(Stream.OCCURRENCES)[0])
