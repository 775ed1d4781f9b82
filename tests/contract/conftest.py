import datetime as dt

import pyarrow as pa
import pytest

HOUR = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


def occurrence_rows(n: int = 5, start: dt.datetime = HOUR) -> dict[str, pa.Array]:
    times = [start + dt.timedelta(seconds=7 * i) for i in range(n)]
    return {
        "camera_id": pa.array([f"cam-{i % 2}" for i in range(n)]),
        "observed_at": pa.array(times, pa.timestamp("ms", tz="UTC")),
        "group_id": pa.array([(17 * i) % 1000 for i in range(n)], pa.int16()),
        "direction": pa.array(["in", "out", "unknown", "in", "out"][:n] * (n // 5 + 1))[:n],
    }


@pytest.fixture
def occurrences() -> dict[str, pa.Array]:
    return occurrence_rows()
