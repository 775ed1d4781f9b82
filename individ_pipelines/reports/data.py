"""Read one report's figures from the dbt marts (schema ``marts``) for a scope and a span of site-local days.

Scope ``site``: footfall at the entrances, the full camera flow matrix, the site visit time
(entrance -> exit), demographics of all store visitors. Scope ``<store id>``: footfall through the
store's door in, flows into its door-in and out of its door-out, its visit time, its demographics.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from individ.site_config import CameraRole, SiteConfig, SmallCellPolicy
from individ_pipelines.reports.render import ReportData, Table

SITE_SCOPE = "site"


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
    days = [first_day, last_day]
    is_site = scope == SITE_SCOPE
    store = None if is_site else next(s for s in config.stores if s.id == scope)
    if is_site:
        footfall_cameras = [c.id for c in config.cameras if c.role is CameraRole.ENTRANCE]
        footfall_note = (
            "Persons entering the centre, per local hour, summed over the entrances (fictitious persons removed)."
        )
    else:
        footfall_cameras = [c.id for c in config.cameras if c.store == scope and c.role is CameraRole.STORE_DOOR_IN]
        footfall_note = "Persons entering the store, per local hour (fictitious persons removed)."
    footfall = _table(
        connection,
        """SELECT strftime(timezone(?, cast(hour_start AS timestamptz)), '%H:00') AS local_hour, camera_id,
                  round(sum(footfall), 1) AS persons
           FROM marts.footfall_hourly
           WHERE site_day BETWEEN ? AND ? AND list_contains(?, camera_id)
           GROUP BY ALL ORDER BY local_hour, camera_id""",
        [config.site.timezone, *days, footfall_cameras],
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
                   round(sum(estimated_flow), 1) AS estimate,
                   round(greatest(sum(estimated_flow) - 1.959964 * sqrt(sum(flow_se * flow_se)), 0), 1) AS lower,
                   round(sum(estimated_flow) + 1.959964 * sqrt(sum(flow_se * flow_se)), 1) AS upper,
                   sum(same_group_pairs) AS same_group_pairs, round(sum(chance_expectation), 1) AS chance_pairs
            FROM marts.flow_matrix_daily
            WHERE site_day BETWEEN ? AND ? AND origin_camera_id <> destination_camera_id AND ({flow_filter})
            GROUP BY ALL ORDER BY origin, destination""",
        [*days] if is_site else [*days, scope, scope],
    )
    visit_scope, scope_id = ("site", config.site.id) if is_site else ("store", scope)
    dwell = _table(
        connection,
        """SELECT scope_id AS scope, round(median(dwell_median_minutes), 1) AS median_minutes,
                  round(median(dwell_q1_minutes), 1) AS p25_minutes, round(median(dwell_q3_minutes), 1) AS p75_minutes
           FROM marts.dwell_estimates
           WHERE period = 'day' AND site_day BETWEEN ? AND ? AND visit_scope = ? AND scope_id = ?
           GROUP BY ALL""",
        [*days, visit_scope, scope_id],
    )
    histogram = _table(
        connection,
        """SELECT (lag_minute - 1) // 10 * 10 AS lag_minutes, round(sum(visit_share * origin_real), 1) AS persons
           FROM marts.dwell_lag_histogram
           WHERE period = 'day' AND site_day BETWEEN ? AND ? AND visit_scope = ? AND scope_id = ?
           GROUP BY ALL ORDER BY lag_minutes""",
        [*days, visit_scope, scope_id],
    )
    demographics = _table(
        connection,
        """SELECT age_band, gender, sum(visitors) AS persons
           FROM marts.store_demographics
           WHERE period = 'day' AND site_day BETWEEN ? AND ? AND (? OR store_id = ?) AND NOT is_suppressed
           GROUP BY ALL ORDER BY age_band, gender""",
        [*days, is_site, scope],
    )
    p_row = connection.execute(
        """SELECT avg(p_used), any_value(p_source) FROM marts.reidentification_calibration
           WHERE calibration_scope = 'all_stores' AND site_day BETWEEN ? AND ?""",
        days,
    ).fetchone()
    share_row = connection.execute(
        """SELECT sum(fictitious_emitted) / nullif(sum(fictitious_emitted + occurrences_emitted), 0)
           FROM raw.heartbeats
           WHERE cast(timezone(?, minute_start) AS date) BETWEEN ? AND ?""",
        [config.site.timezone, *days],
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
        timezone=config.site.timezone,
        footfall=footfall,
        footfall_note=footfall_note,
        flows=flows,
        dwell=dwell,
        dwell_histogram=histogram,
        dwell_note=(
            "Time from entering to leaving the centre (entrance -> exit)."
            if is_site
            else "Time from entering to leaving the store (door in -> door out)."
        ),
        demographics=demographics,
        demographics_population="the stores' visitors" if is_site else "the store's visitors",
        groups=config.privacy.groups,
        p_used=None if p_row is None or p_row[0] is None else float(p_row[0]),
        p_source={"override": "set in the site configuration", "estimate": "estimated from store visits"}.get(
            str(p_row[1]) if p_row else "", "not available for this period"
        ),
        min_members=config.privacy.fictitious.min_members,
        fictitious_share=None if share_row is None or share_row[0] is None else float(share_row[0]),
        min_cell_size=config.privacy.min_cell_size,
        small_cells_merged=config.privacy.small_cells == SmallCellPolicy.MERGE_UNKNOWN,
        demographics_window=config.privacy.demographics_window_minutes,
        max_lag_minutes=config.flows.max_lag_minutes,
    )
