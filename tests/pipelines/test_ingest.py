"""Ingestion reads a clean batch in one DuckDB statement; anything in doubt goes segment by segment.

Both ways must agree with the contract's own reader: the same rows go in, and a segment the contract
refuses is quarantined, never half-read.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from individ.contract import SCHEMAS, LandingZone, Segment, Stream
from individ.site_config import CameraRole, CountingLine, example_site_path, load_site_config
from individ_pipelines.defs.landing import ingest
from individ_pipelines.defs.landing.partitions import HOUR
from individ_pipelines.warehouse import connect
from tests.pipelines import contract_data

START = contract_data.DAY.replace(hour=10)


def _delivered(tmp_path: Path) -> LandingZone:
    config = contract_data.load(contract_data.write_site_config(tmp_path, tmp_path / "landing"))
    zone = LandingZone(tmp_path / "landing")
    contract_data.deliver(zone, contract_data.simulate(config, START, hours=2))
    return zone


def _ingest(tmp_path: Path, zone: LandingZone, stream: Stream) -> tuple[ingest.IngestResult, int]:
    """Ingest the stream's segments; the result and the rows now in the raw table."""
    with connect(tmp_path / "warehouse.duckdb") as connection:
        result = ingest.ingest_segments(connection, zone, stream, zone.segments(stream))
        (rows,) = connection.execute(f"SELECT count(*) FROM raw.{stream.value}").fetchone() or (0,)
    return result, rows


def _rows_differing(tmp_path: Path, stream: Stream, expected: pa.Table) -> int:
    """Rows in the raw table but not in ``expected`` plus the reverse (multisets, ingested_at aside)."""
    columns = ", ".join(f'"{name}"' for name in SCHEMAS[stream].names)
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as connection:
        connection.register("expected", expected)
        (differing,) = connection.execute(
            f"""SELECT (SELECT count(*) FROM (SELECT {columns} FROM raw.{stream.value}
                                              EXCEPT ALL SELECT {columns} FROM expected))
                     + (SELECT count(*) FROM (SELECT {columns} FROM expected
                                              EXCEPT ALL SELECT {columns} FROM raw.{stream.value}))"""
        ).fetchone() or (None,)
    return int(differing)


def _plant(zone: LandingZone, like: Segment, table: pa.Table, segment_id: str) -> Segment:
    """A file in ``like``'s hour folder named as segment ``segment_id``, holding ``table`` as it is."""
    path = like.path.rsplit("/", 1)[0] + f"/{segment_id}.parquet"
    pq.write_table(table, path)
    return Segment(like.stream, segment_id, like.hour, path)


def _labelled(table: pa.Table, segment_id: str) -> pa.Table:
    index = table.schema.get_field_index("segment_id")
    return table.set_column(index, "segment_id", pa.array([segment_id] * table.num_rows, pa.string()))


def test_every_stream_goes_in_as_the_contract_reads_it(tmp_path: Path) -> None:
    zone = _delivered(tmp_path)
    segments = [segment for stream in Stream for segment in zone.segments(stream)]
    for stream in Stream:
        result, rows = _ingest(tmp_path, zone, stream)
        expected = pa.concat_tables([zone.read(s) for s in segments if s.stream is stream])
        assert _rows_differing(tmp_path, stream, expected) == 0
        assert sorted(result.segments_ingested) == sorted(s.segment_id for s in segments if s.stream is stream)
        assert result.rows == rows == expected.num_rows and not result.segments_quarantined
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as connection:
        ledger = connection.execute("SELECT sum(row_count), count(*) FROM raw.ingested_segments").fetchone()
    assert ledger == (sum(zone.read(s).num_rows for s in segments), len(segments))


def test_a_segment_lacking_a_nullable_column_is_quarantined_not_read_as_nulls(tmp_path: Path) -> None:
    zone = _delivered(tmp_path)
    good = zone.segments(Stream.HEARTBEATS)
    planted_id = "hea-planted-00000000000000000001"
    table = _labelled(zone.read(good[0]), planted_id).drop(["latency_p50_ms"])
    planted = _plant(zone, good[0], table, planted_id)
    result, _ = _ingest(tmp_path, zone, Stream.HEARTBEATS)
    assert result.segments_quarantined == (planted.segment_id,)
    assert sorted(result.segments_ingested) == sorted(s.segment_id for s in good)
    assert _rows_differing(tmp_path, Stream.HEARTBEATS, pa.concat_tables([zone.read(s) for s in good])) == 0


def test_a_segment_whose_rows_name_another_segment_or_hour_is_quarantined(tmp_path: Path) -> None:
    zone = _delivered(tmp_path)
    good = zone.segments(Stream.OCCURRENCES)
    first, other_hour = good[0], next(s for s in good if s.hour == good[0].hour + HOUR)
    renamed = _plant(zone, first, zone.read(first), "occ-renamed-00000000000000000002")
    misplaced_id = "occ-misplaced-00000000000000000003"
    misplaced = _plant(zone, first, _labelled(zone.read(other_hour), misplaced_id), misplaced_id)
    result, rows = _ingest(tmp_path, zone, Stream.OCCURRENCES)
    assert sorted(result.segments_quarantined) == sorted([renamed.segment_id, misplaced.segment_id])
    assert rows == sum(zone.read(s).num_rows for s in good)


def test_a_rerun_ingests_nothing_twice(tmp_path: Path) -> None:
    zone = _delivered(tmp_path)
    first, _ = _ingest(tmp_path, zone, Stream.OCCURRENCES)
    again, rows = _ingest(tmp_path, zone, Stream.OCCURRENCES)
    assert again.rows == 0 and again.segments_skipped == len(first.segments_ingested)
    assert rows == first.rows


def test_site_tables_carry_each_cameras_fictitious_direction_mix(tmp_path: Path) -> None:
    """raw.cameras holds the mix the sensor draws fictitious directions from: configured, else by role and line."""
    site = load_site_config(example_site_path("demo_mall"))
    line = CountingLine.model_validate({"start": {"x": 0.5, "y": 0.0}, "end": {"x": 0.5, "y": 1.0}})
    first = {role: next(c for c in site.cameras if c.role is role) for role in CameraRole}
    door_in, door_out, corridor = (
        first[CameraRole.STORE_DOOR_IN],
        first[CameraRole.STORE_DOOR_OUT],
        first[CameraRole.CORRIDOR],
    )
    cameras = [
        door_in.model_copy(update={"counting_line": line}),
        door_out.model_copy(update={"counting_line": line, "fictitious_directions": {"out": 0.7, "unknown": 0.3}}),
        corridor,
    ]
    with connect(tmp_path / "warehouse.duckdb") as connection:
        ingest.write_site_tables(connection, site.model_copy(update={"cameras": cameras}))
        rows = connection.execute(
            "SELECT camera_id, fictitious_share_in, fictitious_share_out, fictitious_share_unknown FROM raw.cameras"
        ).fetchall()
    assert sorted(rows) == sorted(
        [(door_in.id, 0.85, 0.05, 0.10), (door_out.id, 0.0, 0.7, 0.3), (corridor.id, 0.0, 0.0, 1.0)]
    )
