"""A retailer report renders from the materialized marts, and every label, number and claim says what it is."""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from individ_pipelines.defs.reports.partitions import PERIOD, SCOPE
from individ_pipelines.defs.reports.schedules import DAILY_JOB
from individ_pipelines.reports.data import load_report_data
from individ_pipelines.reports.render import write_report
from individ_pipelines.warehouse import connect
from tests.pipelines import contract_data
from tests.pipelines.conftest import Materialized

DAY = contract_data.DAY.date()
OVERCLAIMS = ("No person is tracked", "thousands of people share", "Estimated persons", "Persons")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _figure(html: str, label: str) -> str:
    found = re.search(rf"<span>{re.escape(label)}</span><b>([^<]*)</b>", html)
    assert found, f"no figure {label!r}"
    return found.group(1)


def _svg_labels(html: str, title: str) -> list[str]:
    """The text labels of the chart with this title."""
    svg = next(chart for chart in re.findall(r"<svg.*?</svg>", html, flags=re.S) if f"<title>{title}</title>" in chart)
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def _one(connection: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> float:
    row = connection.execute(sql, params).fetchone()
    assert row is not None and row[0] is not None
    return float(row[0])


def test_store_daily_report(materialized: Materialized) -> None:
    env, data = materialized.env, materialized.data
    job = env.defs.resolve_job_def(DAILY_JOB)
    key = dg.MultiPartitionKey({PERIOD: DAY.isoformat(), SCOPE: "shop"})
    assert job.execute_in_process(instance=env.instance, partition_key=key).success

    folder = env.settings.reports_dir / f"daily-{DAY.isoformat()}" / "shop"
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 4  # entries, movement heat map, time spent, demographics
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    with connect(env.settings.warehouse_path, read_only=True) as connection:
        entries = _one(
            connection,
            "SELECT sum(footfall_in + footfall_unknown_direction) FROM marts.footfall_hourly WHERE camera_id = ?",
            ["shop-in"],
        )
        p_used = _one(
            connection,
            "SELECT p_used FROM marts.reidentification_calibration WHERE calibration_scope = 'all_stores'",
            [],
        )
        share = "SELECT sum(fictitious_removed) / sum(passes_stored) FROM marts.footfall_hourly WHERE camera_id LIKE ?"
        store_share = _one(connection, share, ["shop-%"])
        site_share = _one(connection, share, ["%"])
        gaps = int(
            _one(
                connection, "SELECT count(*) FROM marts.footfall_hourly WHERE unaccounted_passes IS DISTINCT FROM 0", []
            )
        )
        median_interval = connection.execute(
            """SELECT round(dwell_median_ci_low, 1), round(dwell_median_ci_high, 1) FROM marts.dwell_estimates
               WHERE period = 'day' AND visit_scope = 'store' AND scope_id = 'shop'"""
        ).fetchone()

    # Entries: passes in + without direction at the door in, which here are exactly the simulated real passes.
    assert int(_figure(html, "Entries counted").replace(",", "")) == round(entries) == data.real_passes["shop-in"]
    rows = _rows(folder / "entries_hourly.csv")
    assert {row["camera_id"] for row in rows} == {"shop-in"}
    assert round(sum(float(row["entries"]) for row in rows)) == data.real_passes["shop-in"]

    # Flows are movements (pass pairs), with the sentence that says so.
    assert "Estimated movements" in html and "pass pairs, not distinct persons" in html
    flows = _rows(folder / "flows.csv")
    assert ("entrance", "shop-in") in {(row["origin"], row["destination"]) for row in flows}
    assert all(row["origin"] == "shop-out" or row["destination"] == "shop-in" for row in flows)

    # The privacy statement states the real guarantees and none of the old overclaims.
    for claim in OVERCLAIMS:
        assert claim not in html, claim
    assert "at least k = 0.4 passes there, real or\n      fictitious" in html
    assert "No person is followed from camera to camera" in html
    assert "the group number and the walking direction" in html and "new key every 24 hours" in html
    assert f"p = {p_used:.3f} (estimated from the day&#39;s store visits)" in html
    # The fictitious share is the store's own cameras', not the site's.
    assert f"{store_share:.1%} of the passes recorded at the store&#39;s cameras (shop-in, shop-out)" in html
    assert f"{store_share:.1%}" != f"{site_share:.1%}"
    # The test data's heartbeats account for every pass, unless another test delivered a late segment without them.
    if gaps:
        assert f"In {gaps} camera-hour{'s' if gaps != 1 else ''} the sensor's heartbeats do" in html
    else:
        assert "for every camera-hour" in html
    assert "Cells under 5 entries are counted as unknown age and gender" in html  # the site's merge_unknown policy

    # Time spent: ranges as bin labels, no negative label, the median's interval in the table.
    labels = _svg_labels(html, "Visits by time spent (minutes)")
    assert "0–10" in labels and not any(label.startswith("-") for label in labels)
    assert median_interval is not None and f"{median_interval[0]:.1f} – {median_interval[1]:.1f}" in html
    assert "visits that ended within 180 minutes" in html


def _edited_copy(materialized: Materialized, folder: Path) -> Path:
    """The materialized warehouse copied and edited so each case a report must word exactly is present."""
    source = materialized.env.settings.warehouse_path
    for path in source.parent.glob(f"{source.name}*"):
        shutil.copy(path, folder / path.name)
    copy = folder / source.name
    with connect(copy) as connection:
        connection.execute(
            """-- people leaving through the store's door in: counted in footfall, never as entries
            UPDATE marts.footfall_hourly SET footfall = footfall + 25, footfall_out = footfall_out + 25
            WHERE camera_id = 'shop-in';
            -- a camera-hour whose heartbeats do not account for 7 stored passes (and no other)
            UPDATE marts.footfall_hourly SET unaccounted_passes = 0;
            UPDATE marts.footfall_hourly SET unaccounted_passes = 7
            WHERE camera_id = 'shop-out' AND hour_start = (SELECT min(hour_start) FROM marts.footfall_hourly);
            -- the day used the previous day's p; a second day of the week estimated its own
            UPDATE marts.reidentification_calibration SET p_source = 'previous_day', p_used = 0.25;
            INSERT INTO marts.reidentification_calibration
                SELECT * REPLACE (site_day + 1 AS site_day, 0.35 AS p_used, 'estimate' AS p_source)
                FROM marts.reidentification_calibration;
            -- a second day of visits lasting longer
            INSERT INTO marts.dwell_estimates
                SELECT * REPLACE (site_day + 1 AS site_day, dwell_median_minutes + 20 AS dwell_median_minutes)
                FROM marts.dwell_estimates WHERE period = 'day';
            -- a bin left below 0 by the chance subtraction
            UPDATE marts.dwell_lag_histogram SET visit_share = -0.01 WHERE lag_minute BETWEEN 41 AND 50;
            -- a withheld demographic cell
            UPDATE marts.store_demographics SET is_suppressed = TRUE, visitors = NULL
            WHERE period = 'day' AND age_band = '38-47';"""
        )
    return copy


def test_report_wording_of_edge_cases(materialized: Materialized, tmp_path: Path) -> None:
    config = materialized.env.config
    warehouse = _edited_copy(materialized, tmp_path)
    with connect(warehouse, read_only=True) as connection:
        footfall, entries = connection.execute(
            """SELECT sum(footfall), sum(footfall_in + footfall_unknown_direction) FROM marts.footfall_hourly
               WHERE camera_id = 'shop-in'"""
        ).fetchone() or (None, None)
        daily = load_report_data(connection, config, "shop", "daily", DAY, DAY)
        weekly = load_report_data(connection, config, "shop", "weekly", DAY, DAY + dt.timedelta(days=6))
        site = load_report_data(connection, config, "site", "daily", DAY, DAY)
    html = write_report(daily, tmp_path / "daily").read_text(encoding="utf-8")
    weekly_html = write_report(weekly, tmp_path / "weekly").read_text(encoding="utf-8")
    site_html = write_report(site, tmp_path / "site").read_text(encoding="utf-8")

    # Entries leave out the passes going out: they are in + unknown, 50 fewer than footfall.
    assert footfall is not None and entries is not None and round(footfall - entries) == 50
    assert int(_figure(html, "Entries counted").replace(",", "")) == round(entries)
    # A day on the previous day's p says so; the week gives the days' mean, range and each source.
    assert "p = 0.250 (the previous day&#39;s estimate" in html and "not available" not in html
    assert _figure(weekly_html, "p used (mean over the days)") == "0.300"
    assert "mean 0.300 over the 2 days with a value, range 0.250 – 0.350" in weekly_html
    assert "on 1 day" in weekly_html and weekly_html.count("on 1 day") == 2
    # Weekly figures say they are summed over the days, or medians of the daily values.
    assert "Entries per local hour (summed over the 7 days)" in weekly_html
    assert "Median of the 2 daily values" in weekly_html
    medians = [row[1] for row in weekly.dwell.rows]
    assert _figure(weekly_html, "Median of the daily median times spent (min)") == f"{sum(medians) / 2:.1f}"
    # Missing heartbeats: no claim that every count is corrected.
    assert "In 1 camera-hour the sensor's heartbeats do\n      not account for the stored passes (7 passes" in html
    assert "for every camera-hour" not in html
    # A negative bin: the CSV keeps it under its explained name, the chart shows 0 and no negative label.
    bins = _rows(tmp_path / "daily" / "dwell_histogram.csv")
    raw = {
        (row["longer_than_minutes"], row["at_most_minutes"]): float(row["visits_estimate_unclipped"]) for row in bins
    }
    assert raw[("40", "50")] < 0
    labels = _svg_labels(html, "Visits by time spent (minutes)")
    assert labels[labels.index("40–50") - 1] == "0.0"
    assert not any(label.startswith("-") for label in labels)
    # Demographics: withheld cells are left out and counted; the site's figures are store entries.
    assert "left out\nof these figures (1 in this period)" in html
    assert "38-47" not in {row["age_band"] for row in _rows(tmp_path / "daily" / "demographics.csv")}
    assert "Store entries by age band and gender" in site_html and "enters three stores counts three times" in site_html
    assert "all the site&#39;s cameras (site-wide)" in site_html
