"""Turn a report's figures into its folder: report.html (inline SVG charts) and CSV extracts.

Pure presentation: ``ReportData`` arrives filled from the warehouse (``reports/data.py``); this
module only formats, charts and writes. The HTML is self-contained (no script, no download).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
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
class ReportData:
    title: str
    site_name: str
    scope: str  # "site" or a store id
    period_label: str
    timezone: str
    # Footfall: local hour label -> persons (real, fictitious removed)
    footfall: Table  # local_hour, camera_id, persons
    footfall_note: str
    flows: Table  # origin, destination, estimate, lower, upper, same_group_pairs, chance_pairs
    dwell: Table  # scope, median_minutes, p25_minutes, p75_minutes
    dwell_histogram: Table  # lag_minutes, persons
    dwell_note: str
    demographics: Table  # age_band, gender, persons
    demographics_population: str
    groups: int
    p_used: float | None
    p_source: str
    min_members: float
    fictitious_share: float | None
    min_cell_size: int
    small_cells_merged: bool  # privacy.small_cells is merge_unknown (else suppress)
    demographics_window: int
    max_lag_minutes: int


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("individ_pipelines.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def write_report(data: ReportData, folder: Path) -> Path:
    """Write report.html and the CSV extracts into ``folder`` (each file atomically); return the HTML path."""
    folder.mkdir(parents=True, exist_ok=True)
    extracts = {
        "footfall_hourly.csv": data.footfall,
        "flows.csv": data.flows,
        "dwell.csv": data.dwell,
        "dwell_histogram.csv": data.dwell_histogram,
        "demographics.csv": data.demographics,
    }
    for name, table in extracts.items():
        _write_csv(folder / name, table)
    html = render_html(data, list(extracts))
    target = folder / "report.html"
    _write_text(target, html)
    return target


def render_html(data: ReportData, csv_files: list[str]) -> str:
    hours = sorted(set(data.footfall.column("local_hour")))
    per_hour = {hour: 0.0 for hour in hours}
    for hour, persons in zip(data.footfall.column("local_hour"), data.footfall.column("persons"), strict=True):
        per_hour[hour] += persons
    footfall_svg = charts.bar_chart(
        [str(hour) for hour in hours], list(per_hour.values()), title="Persons per hour", unit="persons"
    )
    origins = sorted(set(data.flows.column("origin")))
    destinations = sorted(set(data.flows.column("destination")))
    matrix = [[0.0] * len(destinations) for _ in origins]
    for origin, destination, estimate in zip(
        data.flows.column("origin"), data.flows.column("destination"), data.flows.column("estimate"), strict=True
    ):
        matrix[origins.index(origin)][destinations.index(destination)] = max(0.0, estimate)
    flow_svg = charts.heat_map(origins, destinations, matrix, title="Estimated persons, origin (row) to destination")
    ranked = sorted(data.flows.rows, key=lambda row: -row[2])[:10]
    top_flows = [
        {"origin": r[0], "destination": r[1], "estimate": _fmt(r[2]), "interval": f"{_fmt(r[3])} – {_fmt(r[4])}"}
        for r in ranked
    ]
    dwell_svg = charts.bar_chart(
        [str(lag) for lag in data.dwell_histogram.column("lag_minutes")],
        data.dwell_histogram.column("persons"),
        title="Persons by time spent (minutes)",
        unit="persons",
    )
    dwell_rows = [
        {"scope": r[0], "median": _fmt(r[1], 1), "quartiles": f"{_fmt(r[2], 1)} – {_fmt(r[3], 1)}"}
        for r in data.dwell.rows
    ]
    genders = sorted(set(data.demographics.column("gender")))
    bands = sorted(set(data.demographics.column("age_band")))
    series: dict[str, list[float]] = {str(gender): [0.0] * len(bands) for gender in genders}
    for band, gender, persons in data.demographics.rows:
        series[str(gender)][bands.index(band)] += persons
    demographics_svg = charts.grouped_bars(bands, series, title="Persons by age band and gender", unit="persons")
    total_footfall = sum(per_hour.values())
    figures = [
        {"label": "Persons counted", "value": _fmt(total_footfall)},
        {"label": "Busiest hour", "value": max(per_hour, key=lambda h: per_hour[h]) if per_hour else "n/a"},
        {"label": "Median time spent (min)", "value": dwell_rows[0]["median"] if dwell_rows else "n/a"},
        {"label": "p used", "value": _fmt(data.p_used, 3)},
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
            flow_svg=flow_svg,
            top_flows=top_flows,
            max_lag_minutes=data.max_lag_minutes,
            dwell_svg=dwell_svg,
            dwell_rows=dwell_rows,
            dwell_note=data.dwell_note,
            dwell_scope_label="Store" if data.scope != "site" else "Visit",
            demographics_svg=demographics_svg,
            demographics_population=data.demographics_population,
            min_cell_size=data.min_cell_size,
            small_cells_merged=data.small_cells_merged,
            groups=f"{data.groups:,}",
            p_used=_fmt(data.p_used, 3),
            p_source=data.p_source,
            min_members=f"{data.min_members:g}",
            fictitious_share="n/a" if data.fictitious_share is None else f"{data.fictitious_share:.1%}",
            demographics_window=data.demographics_window,
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
