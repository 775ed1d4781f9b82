"""Turn a report's figures into its folder: report.html (inline SVG charts) and CSV extracts.

Pure presentation: ``ReportData`` arrives filled from the warehouse (``reports/data.py``); this
module only formats, charts and writes. The HTML is self-contained (no script, no download).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from individ_pipelines.reports import charts


@dataclass(frozen=True)
class Table:
    """Rows with named columns, written as one CSV extract."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class HeartbeatGaps:
    """Camera-hours whose stored passes the sensor's heartbeats do not account for (missing heartbeats, lost data).

    There the fictitious persons the sensor added cannot be removed exactly, so the report must say so.
    """

    camera_hours: int
    passes: int  # stored passes minus what the heartbeats report, in absolute value, summed


@dataclass(frozen=True)
class ReportData:
    title: str
    site_name: str
    scope: str  # "site" or a store id
    period_label: str
    period_days: int  # 1 for a daily report, 7 for a weekly one
    timezone: str
    footfall: Table  # local_hour, camera_id, entries, entries_direction_unknown (summed over the period's days)
    footfall_note: str
    # origin, destination, estimated_movements, ci95_low, ci95_high, same_group_pairs, chance_pairs
    flows: Table
    dwell: Table  # site_day, median_minutes, median_ci95_low, median_ci95_high, q1_minutes, q3_minutes
    dwell_histogram: Table  # longer_than_minutes, at_most_minutes, visits_estimate_unclipped
    dwell_note: str
    demographics: Table  # age_band, gender, store_entries (withheld cells left out)
    demographics_population: str
    demographics_counting: str  # how often one person can count
    demographics_withheld_cells: int
    groups: int
    p_by_day: Table  # site_day, p_used, p_source
    min_members: float
    fictitious_share: float | None  # of the passes stored at ``fictitious_scope``
    fictitious_scope: str
    heartbeat_gaps: HeartbeatGaps  # at every camera the report draws on
    min_cell_size: int
    small_cells_merged: bool  # privacy.small_cells is merge_unknown (else suppress)
    demographics_window: int
    max_lag_minutes: int
    key_rotation_hours: int

    @property
    def p_used_mean(self) -> float | None:
        """Mean of the days' p (each day's flows are divided by that day's own p)."""
        values = _p_values(self.p_by_day)
        return statistics.fmean(values) if values else None


# How each day's p came about (reidentification_calibration.p_source).
P_SOURCES = {
    "override": "set in the site configuration",
    "estimate": "estimated from the day's store visits",
    "previous_day": "the previous day's estimate, the day having too few store door-ins",
    "unavailable": "not available, too few store visits: no flows estimated",
}


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("individ_pipelines.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _p_values(p_by_day: Table) -> list[float]:
    """The days' p, without the days that have none."""
    return [value for value in p_by_day.column("p_used") if value is not None]


def describe_p(p_by_day: Table, period_days: int) -> str:
    """The p the flows were divided by and where it came from: one day's value, or the days' mean, range, sources."""
    if not p_by_day.rows:
        return "p = n/a (no calibration for this period)"
    sources = p_by_day.column("p_source")
    if len(p_by_day.rows) == 1:
        day, value, source = p_by_day.rows[0]
        on_day = f"{day}, the only day of the period with a calibration: " if period_days > 1 else ""
        return f"p = {_fmt(value, 3)} ({on_day}{P_SOURCES.get(source, source)})"
    values = _p_values(p_by_day)
    counts = {source: sources.count(source) for source in dict.fromkeys(sources)}
    how = "; ".join(f"{P_SOURCES.get(source, source)} on {n} day{'s' if n > 1 else ''}" for source, n in counts.items())
    if not values:
        return f"p = n/a on all {len(sources)} days ({how})"
    return (
        f"p set per day, each day's flows divided by that day's p: mean {_fmt(statistics.fmean(values), 3)} over "
        f"the {len(values)} days with a value, range {_fmt(min(values), 3)} – {_fmt(max(values), 3)} ({how})"
    )


def write_report(data: ReportData, folder: Path) -> Path:
    """Write report.html and the CSV extracts into ``folder`` (each file atomically); return the HTML path."""
    folder.mkdir(parents=True, exist_ok=True)
    extracts = {
        "entries_hourly.csv": data.footfall,
        "flows.csv": data.flows,
        "dwell.csv": data.dwell,
        "dwell_histogram.csv": data.dwell_histogram,
        "demographics.csv": data.demographics,
        "p_by_day.csv": data.p_by_day,
    }
    for name, table in extracts.items():
        _write_csv(folder / name, table)
    html = render_html(data, list(extracts))
    target = folder / "report.html"
    _write_text(target, html)
    return target


def _dwell_rows(dwell: Table) -> list[dict[str, str]]:
    """One row per day with its median's 95 % interval; over several days, a last row of the daily values' medians."""
    rows = [
        {
            "day": str(r[0]),
            "median": _fmt(r[1], 1),
            "interval": f"{_fmt(r[2], 1)} – {_fmt(r[3], 1) if r[3] is not None else 'not reached'}",
            "quartiles": f"{_fmt(r[4], 1)} – {_fmt(r[5], 1)}",
        }
        for r in dwell.rows
    ]
    if len(dwell.rows) > 1:

        def median_of(name: str) -> float | None:
            values = [value for value in dwell.column(name) if value is not None]
            return statistics.median(values) if values else None

        rows.append(
            {
                "day": f"Median of the {len(dwell.rows)} daily values",
                "median": _fmt(median_of("median_minutes"), 1),
                "interval": "",
                "quartiles": f"{_fmt(median_of('q1_minutes'), 1)} – {_fmt(median_of('q3_minutes'), 1)}",
            }
        )
    return rows


def render_html(data: ReportData, csv_files: list[str]) -> str:
    weekly = data.period_days > 1
    over_days = f" (summed over the {data.period_days} days)" if weekly else ""
    hours = sorted(set(data.footfall.column("local_hour")))
    per_hour = {hour: 0.0 for hour in hours}
    for hour, entries in zip(data.footfall.column("local_hour"), data.footfall.column("entries"), strict=True):
        per_hour[hour] += entries
    footfall_svg = charts.bar_chart(
        [str(hour) for hour in hours],
        list(per_hour.values()),
        title=f"Entries per local hour{over_days}",
        unit="entries",
    )
    origins = sorted(set(data.flows.column("origin")))
    destinations = sorted(set(data.flows.column("destination")))
    matrix = [[0.0] * len(destinations) for _ in origins]
    for origin, destination, estimate in zip(
        data.flows.column("origin"),
        data.flows.column("destination"),
        data.flows.column("estimated_movements"),
        strict=True,
    ):
        matrix[origins.index(origin)][destinations.index(destination)] = max(0.0, estimate)
    flow_svg = charts.heat_map(
        origins, destinations, matrix, title="Estimated movements (pass pairs), origin (row) to destination"
    )
    ranked = sorted(data.flows.rows, key=lambda row: -row[2])[:10]
    top_flows = [
        {"origin": r[0], "destination": r[1], "estimate": _fmt(r[2]), "interval": f"{_fmt(r[3])} – {_fmt(r[4])}"}
        for r in ranked
    ]
    bins = data.dwell_histogram
    bin_edges = zip(bins.column("longer_than_minutes"), bins.column("at_most_minutes"), strict=True)
    dwell_svg = charts.bar_chart(
        [f"{low}–{high}" for low, high in bin_edges],
        [max(0.0, visits) for visits in bins.column("visits_estimate_unclipped")],
        title="Visits by time spent (minutes)",
        unit="visits",
    )
    dwell_rows = _dwell_rows(data.dwell)
    genders = sorted(set(data.demographics.column("gender")))
    bands = sorted(set(data.demographics.column("age_band")))
    series: dict[str, list[float]] = {str(gender): [0.0] * len(bands) for gender in genders}
    for band, gender, entries in data.demographics.rows:
        series[str(gender)][bands.index(band)] += entries
    entries_name = "Store entries" if data.scope == "site" else "Entries"
    demographics_svg = charts.grouped_bars(
        bands, series, title=f"{entries_name} by age band and gender", unit=entries_name.lower()
    )
    p_mean = data.p_used_mean
    figures = [
        {"label": f"Entries counted{over_days}", "value": _fmt(sum(per_hour.values()))},
        {
            "label": f"Busiest local hour{over_days}",
            "value": max(per_hour, key=lambda h: per_hour[h]) if per_hour else "n/a",
        },
        {
            "label": "Median of the daily median times spent (min)" if weekly else "Median time spent (min)",
            "value": dwell_rows[-1]["median"] if dwell_rows else "n/a",
        },
        {"label": "p used (mean over the days)" if weekly else "p used", "value": _fmt(p_mean, 3)},
    ]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=data.title,
            site_name=data.site_name,
            period_label=data.period_label,
            timezone=data.timezone,
            generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            figures=figures,
            footfall_svg=footfall_svg,
            footfall_note=data.footfall_note,
            period_days=data.period_days,
            flow_svg=flow_svg,
            top_flows=top_flows,
            max_lag_minutes=data.max_lag_minutes,
            dwell_svg=dwell_svg,
            dwell_rows=dwell_rows,
            dwell_note=data.dwell_note,
            dwell_window=max(bins.column("at_most_minutes"), default=None),
            dwell_total=_fmt(sum(bins.column("visits_estimate_unclipped"))),
            demographics_svg=demographics_svg,
            demographics_population=data.demographics_population,
            demographics_counting=data.demographics_counting,
            demographics_withheld_cells=data.demographics_withheld_cells,
            min_cell_size=data.min_cell_size,
            small_cells_merged=data.small_cells_merged,
            groups=f"{data.groups:,}",
            p_text=describe_p(data.p_by_day, data.period_days),
            min_members=f"{data.min_members:g}",
            fictitious_share="n/a" if data.fictitious_share is None else f"{data.fictitious_share:.1%}",
            fictitious_scope=data.fictitious_scope,
            heartbeat_gaps=data.heartbeat_gaps,
            demographics_window=data.demographics_window,
            key_rotation_hours=data.key_rotation_hours,
            csv_files=csv_files,
        )
    )


def _write_csv(path: Path, table: Table) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows(table.rows)
    os.replace(temporary, path)


def _write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
