"""Read one report's figures from the dbt marts (schema ``marts``) for a scope and a span of site-local days.

Scope ``site``: entries through the entrances, the full camera flow matrix, the site visit time
(entrance -> exit), demographics of all store entries. Scope ``<store id>``: entries through the
store's door in, flows into its door-in and out of its door-out, its visit time, its demographics.
Every figure keeps the unit the mart gives it (passes, pass pairs, visits, entries): a returning
visitor counts again, and nothing here counts distinct persons.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from individ.site_config import CameraRole, SiteConfig, SmallCellPolicy
from individ_pipelines.reports.render import HeartbeatGaps, ReportData, Table

SITE_SCOPE = "site"
HISTOGRAM_BIN_MINUTES = 10


def _table(connection: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> Table:
    cursor = connection.execute(sql, params)
    columns = tuple(item[0] for item in cursor.description or ())
    return Table(columns, [tuple(row) for row in cursor.fetchall()])


def load_report_data(
    connection: duckdb.DuckDBPyConnection,
    config: SiteConfig,
    scope: str,
    cadence: str,
    first_day: dt.date,
    last_day: dt.date,
) -> ReportData:
    days: list[object] = [first_day, last_day]
    is_site = scope == SITE_SCOPE
    store = None if is_site else next(s for s in config.stores if s.id == scope)
    if is_site:
        entry_cameras = [c.id for c in config.cameras if c.role is CameraRole.ENTRANCE]
        scope_cameras = [c.id for c in config.cameras]
    else:
        entry_cameras = [c.id for c in config.cameras if c.store == scope and c.role is CameraRole.STORE_DOOR_IN]
        scope_cameras = [c.id for c in config.cameras if c.store == scope]
    # An entry is a pass in the 'in' direction or one whose direction the sensor could not tell; `footfall`
    # would also hold the passes going out through the same door.
    footfall = _table(
        connection,
        """SELECT strftime(timezone(?, cast(hour_start AS timestamptz)), '%H:00') AS local_hour, camera_id,
                  round(sum(footfall_in + footfall_unknown_direction), 1) AS entries,
                  round(sum(footfall_unknown_direction), 1) AS entries_direction_unknown
           FROM marts.footfall_hourly
           WHERE site_day BETWEEN ? AND ? AND list_contains(?, camera_id)
           GROUP BY ALL ORDER BY local_hour, camera_id""",
        [config.site.timezone, *days, entry_cameras],
    )
    flow_filter = (
        "TRUE"
        if is_site
        else "(destination_store_id = ? AND destination_role = 'store_door_in') OR "
        "(origin_store_id = ? AND origin_role = 'store_door_out')"
    )
    flows = _table(
        connection,
        f"""SELECT origin_camera_id AS origin, destination_camera_id AS destination,
                   round(sum(estimated_flow), 1) AS estimated_movements,
                   round(greatest(sum(estimated_flow) - 1.959964 * sqrt(sum(flow_se * flow_se)), 0), 1) AS ci95_low,
                   round(sum(estimated_flow) + 1.959964 * sqrt(sum(flow_se * flow_se)), 1) AS ci95_high,
                   sum(same_group_pairs) AS same_group_pairs, round(sum(chance_expectation), 1) AS chance_pairs
            FROM marts.flow_matrix_daily
            WHERE site_day BETWEEN ? AND ? AND origin_camera_id <> destination_camera_id AND ({flow_filter})
            GROUP BY ALL ORDER BY origin, destination""",
        [*days] if is_site else [*days, scope, scope],
    )
    visit_scope, scope_id = ("site", config.site.id) if is_site else ("store", scope)
    dwell = _table(
        connection,
        """SELECT site_day, round(dwell_median_minutes, 1) AS median_minutes,
                  round(dwell_median_ci_low, 1) AS median_ci95_low, round(dwell_median_ci_high, 1) AS median_ci95_high,
                  round(dwell_q1_minutes, 1) AS q1_minutes, round(dwell_q3_minutes, 1) AS q3_minutes
           FROM marts.dwell_estimates
           WHERE period = 'day' AND site_day BETWEEN ? AND ? AND visit_scope = ? AND scope_id = ?
           ORDER BY site_day""",
        [*days, visit_scope, scope_id],
    )
    # lag_minute d holds the lags in (d - 1, d]: a bin holds the visits longer than its first and at most its last
    # minute. The estimate is what is left after chance matches are subtracted, so a sparse bin can be below 0.
    width = HISTOGRAM_BIN_MINUTES
    histogram = _table(
        connection,
        f"""WITH lags AS (
               SELECT lag_minute, visit_share * origin_real AS visits FROM marts.dwell_lag_histogram
               WHERE period = 'day' AND site_day BETWEEN ? AND ? AND visit_scope = ? AND scope_id = ?
           )
           SELECT (lag_minute - 1) // {width} * {width} AS longer_than_minutes,
                  least((lag_minute - 1) // {width} * {width} + {width}, (SELECT max(lag_minute) FROM lags))
                      AS at_most_minutes,
                  round(sum(visits), 1) AS visits_estimate_unclipped
           FROM lags GROUP BY ALL ORDER BY longer_than_minutes""",
        [*days, visit_scope, scope_id],
    )
    demographics = _table(
        connection,
        """SELECT age_band, gender, sum(visitors) AS store_entries
           FROM marts.store_demographics
           WHERE period = 'day' AND site_day BETWEEN ? AND ? AND (? OR store_id = ?) AND NOT is_suppressed
           GROUP BY ALL ORDER BY age_band, gender""",
        [*days, is_site, scope],
    )
    withheld = connection.execute(
        """SELECT count(*) FROM marts.store_demographics
           WHERE period = 'day' AND site_day BETWEEN ? AND ? AND (? OR store_id = ?) AND is_suppressed""",
        [*days, is_site, scope],
    ).fetchone()
    p_by_day = _table(
        connection,
        """SELECT site_day, p_used, p_source FROM marts.reidentification_calibration
           WHERE calibration_scope = 'all_stores' AND site_day BETWEEN ? AND ? ORDER BY site_day""",
        days,
    )
    share_row = connection.execute(
        """SELECT sum(fictitious_removed) / nullif(sum(passes_stored), 0) FROM marts.footfall_hourly
           WHERE site_day BETWEEN ? AND ? AND list_contains(?, camera_id)""",
        [*days, scope_cameras],
    ).fetchone()
    report_cameras = sorted({*scope_cameras, *flows.column("origin"), *flows.column("destination")})
    gaps_row = connection.execute(
        """SELECT count(*), coalesce(sum(abs(coalesce(unaccounted_passes, passes_stored))), 0)
           FROM marts.footfall_hourly
           WHERE site_day BETWEEN ? AND ? AND list_contains(?, camera_id)
             AND unaccounted_passes IS DISTINCT FROM 0""",
        [*days, report_cameras],
    ).fetchone()
    period_label = (
        first_day.isoformat() if cadence == "daily" else f"week {first_day.isoformat()} – {last_day.isoformat()}"
    )
    name = config.site.name if store is None else store.name
    return ReportData(
        title=f"{name}: {cadence} report",
        site_name=config.site.name,
        scope=scope,
        period_label=period_label,
        period_days=(last_day - first_day).days + 1,
        timezone=config.site.timezone,
        footfall=footfall,
        footfall_note=(
            (
                "Entries into the centre per local hour, summed over the entrances"
                if is_site
                else "Entries into the store per local hour at its door-in camera"
            )
            + ": passes in the 'in' direction, plus passes whose direction the sensor could not tell (at a camera "
            "without a counting line that is every pass, people leaving included). Fictitious persons and the "
            "sensor's double counts are removed. A person who enters twice counts twice."
        ),
        flows=flows,
        dwell=dwell,
        dwell_histogram=histogram,
        dwell_note=(
            "Time from entering to leaving the centre (entrance -> exit)."
            if is_site
            else "Time from entering to leaving the store (door in -> door out)."
        ),
        demographics=demographics,
        demographics_population=(
            "store entries, summed over the stores' door-in cameras"
            if is_site
            else "entries at the store's door-in camera"
        ),
        demographics_counting=(
            "A person who enters three stores counts three times, and again each time they come back."
            if is_site
            else "A person who enters twice counts twice."
        ),
        demographics_withheld_cells=int(withheld[0]) if withheld else 0,
        groups=config.privacy.groups,
        p_by_day=p_by_day,
        min_members=config.privacy.fictitious.min_members,
        fictitious_share=None if share_row is None or share_row[0] is None else float(share_row[0]),
        fictitious_scope=(
            "all the site's cameras (site-wide)" if is_site else f"the store's cameras ({', '.join(scope_cameras)})"
        ),
        heartbeat_gaps=HeartbeatGaps(int(gaps_row[0]), int(gaps_row[1])) if gaps_row else HeartbeatGaps(0, 0),
        min_cell_size=config.privacy.min_cell_size,
        small_cells_merged=config.privacy.small_cells == SmallCellPolicy.MERGE_UNKNOWN,
        demographics_window=config.privacy.demographics_window_minutes,
        max_lag_minutes=config.flows.max_lag_minutes,
        key_rotation_hours=config.privacy.key_rotation_hours,
    )
