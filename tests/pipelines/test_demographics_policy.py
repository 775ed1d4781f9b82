"""store_demographics under both small-cell policies, materialized through Dagster and dbt into DuckDB.

The store's door-in camera reports known cells over two hours; the expected release of each policy
(min_cell_size 5) is written out by hand below.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from individ.contract import Stream
from individ_pipelines.definitions import SITE_JOB
from individ_pipelines.defs.landing.partitions import HOUR
from individ_pipelines.warehouse import connect
from tests.pipelines import contract_data
from tests.pipelines.conftest import PipelineEnv, make_env

FIRST = contract_data.DAY.replace(hour=10)  # 11:00 in Paris: both hours fall on the same site-local day
# (hour offset, age band, gender, visitors) at the shop's door-in camera.
DOOR_IN_CELLS = [
    (0, "28-37", "female", 12),
    (0, "38-47", "male", 3),
    (0, "0-17", "male", 1),
    (0, "unknown", "unknown", 2),
    (1, "28-37", "female", 9),
    (1, "48-57", "female", 2),
    (1, "38-47", "male", 6),
]
MODELS = ("stg_site", "stg_cameras", "stg_stores", "stg_demographics", "stg_occurrences", "stg_heartbeats")
MODELS += ("int_run_window", "store_demographics")

# (period, hour offset or None for the day, age band, gender) -> (visitors, is_suppressed, merged_cells)
Released = dict[tuple[str, int | None, str, str], tuple[int | None, bool, int]]
SUPPRESSED: Released = {
    ("hour", 0, "28-37", "female"): (12, False, 0),
    ("hour", 0, "38-47", "male"): (None, True, 0),
    ("hour", 0, "0-17", "male"): (None, True, 0),
    ("hour", 0, "unknown", "unknown"): (None, True, 0),
    ("hour", 1, "28-37", "female"): (9, False, 0),
    ("hour", 1, "48-57", "female"): (None, True, 0),
    ("hour", 1, "38-47", "male"): (6, False, 0),
    ("day", None, "28-37", "female"): (21, False, 0),
    ("day", None, "38-47", "male"): (None, True, 0),  # 9, but 9 - 6 shown would reveal hour 0's 3
    ("day", None, "0-17", "male"): (None, True, 0),
    ("day", None, "48-57", "female"): (None, True, 0),
    ("day", None, "unknown", "unknown"): (None, True, 0),
}
MERGED: Released = {
    ("hour", 0, "28-37", "female"): (12, False, 0),
    ("hour", 0, "unknown", "unknown"): (6, False, 2),  # 3 + 1 merged into its own 2
    ("hour", 1, "28-37", "female"): (9, False, 0),
    ("hour", 1, "38-47", "male"): (6, False, 0),
    ("hour", 1, "unknown", "unknown"): (None, True, 1),  # 2 merged: still under 5, so withheld
    ("day", None, "28-37", "female"): (21, False, 0),
    ("day", None, "38-47", "male"): (6, False, 0),  # the hours as released: hour 0's 3 went to unknown
    ("day", None, "unknown", "unknown"): (None, True, 3),  # 6 + 2, but 8 - 6 shown would reveal hour 1's 2
}


def _door_in_demographics() -> pa.Table:
    return pa.table(
        {
            "camera_id": ["shop-in"] * len(DOOR_IN_CELLS),
            "window_start": pa.array([FIRST + hour * HOUR for hour, *_ in DOOR_IN_CELLS], pa.timestamp("ms", tz="UTC")),
            "window_minutes": pa.array([15] * len(DOOR_IN_CELLS), pa.int16()),
            "age_band": [age for _, age, _, _ in DOOR_IN_CELLS],
            "gender": [gender for _, _, gender, _ in DOOR_IN_CELLS],
            "count": pa.array([n for *_, n in DOOR_IN_CELLS], pa.int32()),
        }
    )


def _materialize(root: Path, small_cells: str) -> Iterator[PipelineEnv]:
    for env in make_env(root, small_cells=small_cells):
        data = contract_data.simulate(env.config, FIRST, hours=2, visitors=40)
        contract_data.deliver(env.zone, data, [Stream.OCCURRENCES, Stream.HEARTBEATS])
        env.zone.write(
            Stream.DEMOGRAPHICS, _door_in_demographics(), site_id=contract_data.SITE_ID, sensor_id="sensor-1"
        )
        assert env.defs.resolve_job_def(SITE_JOB).execute_in_process(instance=env.instance).success
        result = env.run_hours(FIRST, FIRST + HOUR, models=MODELS)
        assert result.success
        dbt_checks = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[-1] == "store_demographics"]
        assert len(dbt_checks) >= 6 and all(e.passed for e in dbt_checks), [
            e.check_name for e in dbt_checks if not e.passed
        ]
        yield env


@pytest.fixture(scope="module", params=["suppress", "merge_unknown"])
def released(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Released]]:
    for env in _materialize(tmp_path_factory.mktemp(request.param), request.param):
        with connect(env.settings.warehouse_path, read_only=True) as connection:
            rows = connection.execute(
                "SELECT period, hour_start, age_band, gender, visitors, is_suppressed, merged_cells, small_cells, "
                "min_cell_size FROM marts.store_demographics WHERE store_id = 'shop'"
            ).fetchall()
        assert {(policy, minimum) for *_, policy, minimum in rows} == {(request.param, 5)}
        start = FIRST.replace(tzinfo=None)
        yield (
            request.param,
            {
                (period, None if hour is None else (hour - start) // HOUR, age, gender): (visitors, suppressed, merged)
                for period, hour, age, gender, visitors, suppressed, merged, *_ in rows
            },
        )


def test_the_configured_policy_is_released(released: tuple[str, Released]) -> None:
    policy, cells = released
    assert cells == (SUPPRESSED if policy == "suppress" else MERGED)


def test_no_shown_cell_is_under_the_minimum_and_merging_keeps_hour_totals(released: tuple[str, Released]) -> None:
    policy, cells = released
    assert all(visitors is None or visitors >= 5 for visitors, _, _ in cells.values())
    if policy == "merge_unknown":
        # Where the merged cell is shown, the hour's cells add up to everything the door counted.
        hour_0 = sum(n for hour, *_, n in DOOR_IN_CELLS if hour == 0)
        assert sum(v or 0 for (period, hour, *_), (v, _, _) in cells.items() if (period, hour) == ("hour", 0)) == hour_0


def test_no_day_cell_reveals_withheld_hours_by_subtraction(released: tuple[str, Released]) -> None:
    _, cells = released
    for (period, _, age, gender), (day_visitors, _, _) in cells.items():
        if period != "day" or day_visitors is None:
            continue
        shown_hours = sum(v or 0 for (p, _, a, g), (v, _, _) in cells.items() if (p, a, g) == ("hour", age, gender))
        assert day_visitors - shown_hours == 0 or day_visitors - shown_hours >= 5, (age, gender)
