"""A retailer report renders from the materialized marts, with the right numbers and its SVG charts."""

from __future__ import annotations

import csv
import re

import dagster as dg

from individ_pipelines.defs.reports.partitions import PERIOD, SCOPE
from individ_pipelines.defs.reports.schedules import DAILY_JOB
from tests.pipelines import contract_data
from tests.pipelines.conftest import Materialized


def test_store_daily_report(materialized: Materialized) -> None:
    env, data = materialized.env, materialized.data
    job = env.defs.resolve_job_def(DAILY_JOB)
    key = dg.MultiPartitionKey({PERIOD: contract_data.DAY.date().isoformat(), SCOPE: "shop"})
    assert job.execute_in_process(instance=env.instance, partition_key=key).success

    folder = env.settings.reports_dir / f"daily-{contract_data.DAY.date().isoformat()}" / "shop"
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 4  # footfall, flow heat map, time spent, demographics
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    shop_in = data.real_passes["shop-in"]
    figure = re.search(r"<span>Persons counted</span><b>([\d,]+)</b>", html)
    assert figure and int(figure.group(1).replace(",", "")) == shop_in
    assert "1,000 anonymous groups" in html and "k = 0.4" in html and "No person is tracked" in html
    assert "cells under\n5 persons are counted as unknown age and gender" in html  # the site's merge_unknown policy
    with (folder / "footfall_hourly.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["camera_id"] for row in rows} == {"shop-in"}
    assert round(sum(float(row["persons"]) for row in rows)) == shop_in
    with (folder / "flows.csv").open(encoding="utf-8") as handle:
        flows = list(csv.DictReader(handle))
    assert ("entrance", "shop-in") in {(row["origin"], row["destination"]) for row in flows}
    assert all(row["origin"] == "shop-out" or row["destination"] == "shop-in" for row in flows)
