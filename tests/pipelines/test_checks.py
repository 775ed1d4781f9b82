"""Asset checks on the raw streams: pass on good data, fail on a camera outage or fictitious counts off-policy."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from individ.contract import LandingZone, Stream
from individ.site_config import SiteConfig
from individ_pipelines.defs.landing import checks, ingest
from individ_pipelines.defs.landing.partitions import HOUR
from individ_pipelines.warehouse import connect
from tests.pipelines import contract_data

START = contract_data.DAY.replace(hour=10)
END = START + HOUR


def _ingest(tmp_path: Path, heartbeats: pa.Table | None = None) -> tuple[Path, SiteConfig]:
    config = contract_data.load(contract_data.write_site_config(tmp_path, tmp_path / "landing"))
    zone = LandingZone(tmp_path / "landing")
    data = contract_data.simulate(config, START, hours=1)
    contract_data.deliver(zone, data, [Stream.OCCURRENCES, Stream.DEMOGRAPHICS])
    zone.write(Stream.HEARTBEATS, heartbeats or data.heartbeats, site_id=contract_data.SITE_ID, sensor_id="s")
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as connection:
        for stream in Stream:
            ingest.ingest_segments(connection, zone, stream, zone.segments(stream))
    return warehouse, config


def _heartbeats(tmp_path: Path) -> pa.Table:
    config = contract_data.load(contract_data.write_site_config(tmp_path, tmp_path / "landing"))
    return contract_data.simulate(config, START, hours=1).heartbeats


def _results(warehouse: Path, config: SiteConfig) -> dict[str, bool]:
    with connect(warehouse, read_only=True) as connection:
        results = [
            checks.camera_freshness(connection, config, START, END),
            checks.camera_outages(connection, config, START, END),
            checks.fictitious_share(connection, config, START, END),
            checks.occurrences_match_heartbeats(connection, START, END),
            checks.contract_version(connection, Stream.HEARTBEATS, START, END),
        ]
    return {str(result.check_name): result.passed for result in results}


def test_checks_pass_on_good_data(tmp_path: Path) -> None:
    assert all(_results(*_ingest(tmp_path)).values())


def test_camera_outage_fails_outage_and_freshness(tmp_path: Path) -> None:
    beats = _heartbeats(tmp_path)
    # The exit camera reported 'down' from minute 30 and went silent from minute 40.
    minute = pc.minutes_between(pa.scalar(START, pa.timestamp("ms", tz="UTC")), beats.column("minute_start"))
    is_exit = pc.equal(beats.column("camera_id"), "exit")
    down = pc.and_(is_exit, pc.greater_equal(minute, 30))
    status = pc.if_else(down, "down", beats.column("stream_status"))
    beats = beats.set_column(beats.schema.get_field_index("stream_status"), "stream_status", status)
    beats = beats.filter(pc.invert(pc.and_(is_exit, pc.greater_equal(minute, 40))))
    results = _results(*_ingest(tmp_path, beats))
    assert not results[checks.OUTAGE_CHECK]
    assert not results[checks.FRESHNESS_CHECK]


def test_frames_dropped_fail_outage_check(tmp_path: Path) -> None:
    beats = _heartbeats(tmp_path)
    dropped = pc.if_else(pc.equal(beats.column("camera_id"), "shop-in"), 90, beats.column("frames_dropped"))
    beats = beats.set_column(beats.schema.get_field_index("frames_dropped"), "frames_dropped", dropped.cast(pa.int32()))
    assert not _results(*_ingest(tmp_path, beats))[checks.OUTAGE_CHECK]


@pytest.mark.parametrize("change", ["plan", "emitted"])
def test_fictitious_share_out_of_policy_fails(tmp_path: Path, change: str) -> None:
    beats = _heartbeats(tmp_path)
    if change == "plan":  # the sensor published a plan below the site's k
        column, values = "fictitious_plan_per_group", pc.multiply(beats.column("fictitious_plan_per_group"), 0.5)
    else:  # the sensor added far fewer fictitious persons than it planned
        column, values = "fictitious_emitted", pc.divide(beats.column("fictitious_emitted"), 4).cast(pa.int32())
    beats = beats.set_column(beats.schema.get_field_index(column), column, values)
    assert not _results(*_ingest(tmp_path, beats))[checks.FICTITIOUS_CHECK]


@pytest.mark.parametrize("restarted", [True, False])
def test_a_restart_within_the_hour_may_add_a_second_plan(tmp_path: Path, restarted: bool) -> None:
    """Each sensor run adds the hour's whole plan over the part it covers; without a second run, twice is off-plan."""
    beats = _heartbeats(tmp_path)
    is_shop = pc.equal(beats.column("camera_id"), "shop-in")
    doubled = pc.if_else(
        is_shop, pc.multiply(beats.column("fictitious_emitted"), 2), beats.column("fictitious_emitted")
    ).cast(pa.int32())
    beats = beats.set_column(beats.schema.get_field_index("fictitious_emitted"), "fictitious_emitted", doubled)
    if restarted:  # the second run wrote a heartbeat for the minute the first one stopped in
        minute = pc.minutes_between(pa.scalar(START, pa.timestamp("ms", tz="UTC")), beats.column("minute_start"))
        second_run = beats.filter(pc.and_(is_shop, pc.equal(minute, 30)))
        zero = pa.array([0] * second_run.num_rows, pa.int32())
        second_run = second_run.set_column(
            second_run.schema.get_field_index("fictitious_emitted"), "fictitious_emitted", zero
        )
        beats = pa.concat_tables([beats, second_run])
    assert _results(*_ingest(tmp_path, beats))[checks.FICTITIOUS_CHECK] is restarted


def test_duplicate_segment_in_one_batch_counts_once(tmp_path: Path) -> None:
    warehouse, _ = _ingest(tmp_path)
    zone = LandingZone(tmp_path / "landing")
    segments = zone.segments(Stream.OCCURRENCES)
    with connect(warehouse) as connection:
        before = connection.execute("SELECT count(*) FROM raw.occurrences").fetchone()
        result = ingest.ingest_segments(connection, zone, Stream.OCCURRENCES, segments + segments)
        after = connection.execute("SELECT count(*) FROM raw.occurrences").fetchone()
    assert result.rows == 0 and result.segments_skipped == 2 * len(segments)
    assert before == after


def test_snapshot_reader_neither_blocks_nor_breaks_the_writer(tmp_path: Path) -> None:
    from individ_pipelines.warehouse import publish_snapshot, snapshot_path

    warehouse, _ = _ingest(tmp_path)
    publish_snapshot(warehouse)
    with connect(snapshot_path(warehouse), read_only=True) as reader:
        with connect(warehouse) as writer:  # the live file opens for writing while a reader is open
            writer.execute("DELETE FROM raw.demographics")
        publish_snapshot(warehouse)  # replacing the snapshot leaves the open reader's file intact
        assert reader.execute("SELECT count(*) FROM raw.demographics").fetchone()[0] > 0  # type: ignore[index]
    with connect(snapshot_path(warehouse), read_only=True) as reader:
        assert reader.execute("SELECT count(*) FROM raw.demographics").fetchone()[0] == 0  # type: ignore[index]
