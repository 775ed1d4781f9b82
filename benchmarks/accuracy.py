"""Accuracy of the real pipeline against the simulator's ground truth.

    uv run python benchmarks/accuracy.py [--visitors 1000,5000,20000] [--p 0.3,0.5,0.7] [--seeds 1[-N]] [--work DIR]
                                         [--min-members K] [--site SITE.yaml] [--simulation SIMULATION.yaml]

For each traffic level and p: simulate one day of a mall (realistic imperfections on), run the real
pipeline on it (Dagster ingestion assets + dbt models, see ``harness.run_pipeline``), and compare the
marts with the truth. The mall is the demo mall with the simulator's default parameters unless
``--site`` (a site YAML) and ``--simulation`` (a ``simulation:`` YAML, e.g. store positions for routes
that follow the geography) say otherwise; the command line's traffic levels and p override the file's.
``benchmarks/sites/study_mall.yaml`` with ``study_mall_simulation.yaml`` is a mall like the one of the
simulation study behind issue 4's targets (4 entrances, 20 stores, 56 cameras, routes by geography).
Definitions (F = true pairs, F^ = estimated_flow; hours = opening hours):

* top-10 store flows: the 10 store-to-store camera pairs (X's door-out -> Y's door-in, X != Y) with
  the most true daily pairs; error = sum |F^ - F| / sum F over those pairs' hours (h) or days (d).
  Beside it, the error the estimator itself expects: sum sqrt(2/pi) flow_se / sum F (the mean absolute
  error of a normal estimate with that standard error), i.e. the statistical floor for that traffic.
* lag-profile hourly: the same hourly figures from ``flow_matrix_hourly_profiled`` (the hour's share of
  its day read from the direct pairs), with their coverage.
* matrix nMAE: sum |F^ - F| / sum F over every ordered camera pair, hourly (h) and daily (d); bias:
  (sum F^ - sum F) / sum F, daily, against every real pass (the estimand) and against the passes the
  sensor emitted (``pairs_observed``: without the pairs lost to missed detections and outages).
* top-10 pair size and chance / signal: the top-10 pairs' mean true persons per day, and their summed
  chance expectation B over their summed signal p F (daily): what makes a mall's flows hard to read.
* dwell: |estimated - true median dwell| in minutes per store-hour with >= 20 true visits (mean), and
  per store-day (mean).
* footfall: sum |footfall - true real passes| / sum true over camera-hours; against every real pass (the
  estimand) and against the real passes the sensor emitted once (``emitted_real - double_counts``: without
  the missed ones, which the analytics cannot see, and without its double counts, which they remove).
* demographics: mean absolute difference (percentage points) between the estimated and true
  age-band x gender shares of each store's daily visitors (known cells only).
* coverage: share of camera pairs whose 95 % interval contains the truth, hourly and daily; against
  every real pass, and against the passes the sensor emitted (the analytics cannot see passes the
  sensor missed, so the second is the intervals' own calibration).
* --min-members: the privacy floor k of the fictitious plan (default the demo mall's 3), to measure
  what the floor costs in accuracy.
* total z: the total's error against the emitted passes in units of its standard error, taken like the
  zone flows' from the spread of the blocks of groups (int_zone_pair_blocks_hourly summed over all zone
  pairs) plus s and p: a bias can only be told from noise against this.
* zone coverage: share of zone pairs of ``flow_matrix_zone_daily`` (sums over many camera pairs) whose
  95 % interval contains the truth, against all and against the emitted passes, and the sd of the
  standardised errors (F^ - F emitted) / flow_se over zone pairs (1 when the interval is calibrated).
* p: the pipeline's daily estimate (all stores) with its sd, against the simulated p.
* many days (``--seeds 1-11``): each seed is another simulated day of the same mall. Beside the rows,
  a table per setting gives the mean of the daily errors with its standard error (day-to-day sd /
  sqrt(days)): one day's bias is mostly noise (2-4 % for the total), so "no systematic bias" can only
  be read from the mean over many days. It also gives the sd of the total's z and of p's standardised
  errors over the days (1 when the standard errors are right, below 1 when they are conservative).
* privacy: real persons per group per camera-hour (mean over camera-hours), and the chance that a
  same-group pair at two different cameras (within the lag window) is one person
  (truth same-person same-group pairs / all same-group pairs the pipeline counted).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import demo_site, run_pipeline, simulate_day, warehouse_query

from individ.contract import N_GROUPS
from individ.simulator import SimulationParameters, load_simulation_parameters
from individ.site_config import load_site_config


@dataclass
class Accuracy:
    visitors_per_hour: int
    p: float
    seed: int
    min_members: float  # the fictitious plan's privacy floor k
    occurrences: int
    top10_hourly: float
    top10_daily: float
    top10_expected_hourly: float
    top10_expected_daily: float
    top10_pair_persons_per_day: float
    top10_chance_to_signal: float
    top10_profiled_hourly: float
    top10_profiled_expected_hourly: float
    matrix_nmae_hourly: float
    matrix_nmae_profiled_hourly: float
    matrix_nmae_daily: float
    total_bias: float
    total_bias_emitted: float
    total_bias_emitted_z: float
    dwell_error_store_hour_min: float
    dwell_error_store_day_min: float
    footfall_error: float
    footfall_error_emitted: float
    demographic_share_error_pp: float
    coverage_hourly: float
    coverage_daily: float
    coverage_emitted_hourly: float
    coverage_emitted_daily: float
    coverage_profiled_hourly: float
    coverage_profiled_emitted_hourly: float
    zone_coverage_daily: float
    zone_coverage_emitted_daily: float
    zone_standardised_error_sd: float
    p_estimate: float
    p_sd: float
    persons_per_group_camera_hour: float
    p_same_person_given_same_group: float
    simulate_seconds: float
    pipeline_seconds: float


def _naive(column: str) -> pl.Expr:
    return pl.col(column).dt.replace_time_zone(None).dt.cast_time_unit("us")


def _weighted_error(frame: pl.DataFrame) -> float:
    return float((frame["estimated_flow"] - frame["pairs"]).abs().sum() / frame["pairs"].sum())


def _expected_error(frame: pl.DataFrame) -> float:
    """The mean absolute error the estimator's own standard errors imply, relative to the true total."""
    return float(math.sqrt(2 / math.pi) * frame["flow_se"].fill_null(0).sum() / frame["pairs"].sum())


def _coverage(frame: pl.DataFrame, truth: str) -> float:
    covered = (pl.col("flow_ci_low") <= pl.col(truth)) & (pl.col(truth) <= pl.col("flow_ci_high"))
    return float(frame.filter(pl.col("flow_ci_low").is_not_null()).select(covered.mean()).item())


def zone_flows_against_truth(data: Path, daily_truth: pl.DataFrame) -> pl.DataFrame:
    """flow_matrix_zone_daily beside the truth summed over the same camera pairs (no zone: '(none)')."""
    zones = warehouse_query(data, "select camera_id, coalesce(zone, '(none)') as zone from raw.cameras")
    zone = dict(zip(zones["camera_id"], zones["zone"], strict=True))
    truth = (
        daily_truth.with_columns(
            pl.col("from_camera").replace_strict(zone).alias("origin_zone"),
            pl.col("to_camera").replace_strict(zone).alias("destination_zone"),
        )
        .group_by("origin_zone", "destination_zone")
        .agg(pl.col("pairs", "pairs_observed").sum())
    )
    estimate = warehouse_query(
        data,
        "select origin_zone, destination_zone, estimated_flow, flow_se, flow_ci_low, flow_ci_high "
        "from marts.flow_matrix_zone_daily",
    )
    return estimate.join(truth, on=["origin_zone", "destination_zone"], how="left").with_columns(
        pl.col("pairs", "pairs_observed").fill_null(0)
    )


def total_flow_standard_error(data: Path) -> float:
    """The standard error of the day's total flow (every camera pair), from the blocks of groups."""
    excess = warehouse_query(
        data,
        "select block, sum(same_group_pairs) - sum(chance_expectation) as excess "
        "from intermediate.int_zone_pair_blocks_hourly group by block",
    )["excess"]
    blocks = excess.len()
    variance = blocks / (blocks - 1) * float(((excess - excess.mean()) ** 2).sum())
    day = warehouse_query(
        data,
        "select sum(excess_pairs) as excess, sum(chance_rate_sensitivity) as sensitivity, "
        "sum(double_count_factor * same_group_pairs) / sum(same_group_pairs) as double_count_factor, "
        "any_value(chance_rate_sd) as s_sd, any_value(chance_rate) as s, any_value(p_used) as p, "
        "any_value(p_sd) as p_sd from marts.flow_matrix_daily",
    ).row(0, named=True)
    variance *= day["double_count_factor"] ** 2  # the blocks count raw pairs; the flows are net of double counts
    divisor = day["p"] - day["s"]
    flow = day["excess"] / divisor
    return math.sqrt(
        (variance + (day["sensitivity"] * day["s_sd"]) ** 2) / divisor**2 + (flow * day["p_sd"] / divisor) ** 2
    )


def top10_store_pairs(daily: pl.DataFrame, role: dict[str, str], store: dict[str, str]) -> pl.DataFrame:
    """The 10 store-to-store pairs (X's door-out -> Y's door-in, X != Y) with the most true daily pairs."""
    store_pairs = daily.filter(
        pl.col("from_camera").replace_strict(role, default="") == "store_door_out",
        pl.col("to_camera").replace_strict(role, default="") == "store_door_in",
        pl.col("from_camera").replace_strict(store, default="")
        != pl.col("to_camera").replace_strict(store, default=""),
    )
    return store_pairs.sort("pairs", descending=True).head(10)


def compare(data: Path, visitors: int, p: float) -> dict[str, float]:
    truth = data / "truth"
    meta = json.loads((truth / "meta.json").read_text())
    day = meta["days"][0]
    opening, closing = (
        pl.Series([day["opening_utc"], day["closing_utc"]]).str.to_datetime(time_zone="UTC").dt.replace_time_zone(None)
    )
    in_hours = pl.col("hour").is_between(opening, closing, closed="left")
    cameras = warehouse_query(data, "select camera_id, role, store_id from raw.cameras")
    role = dict(zip(cameras["camera_id"], cameras["role"], strict=True))
    store = dict(zip(cameras["camera_id"], cameras["store_id"], strict=True))

    hourly_truth = pl.read_parquet(truth / "true_flows_hourly.parquet").with_columns(_naive("hour"))

    def hourly_against_truth(mart: str) -> pl.DataFrame:
        estimate = warehouse_query(
            data,
            "select hour_start as hour, origin_camera_id as from_camera, destination_camera_id as to_camera, "
            f"estimated_flow, flow_se, flow_ci_low, flow_ci_high from marts.{mart}",
        ).with_columns(pl.col("hour").dt.cast_time_unit("us"))
        return (
            estimate.join(hourly_truth, on=["hour", "from_camera", "to_camera"], how="full", coalesce=True)
            .filter(in_hours)
            .with_columns(pl.col("estimated_flow", "pairs", "pairs_observed").fill_null(0))
        )

    hourly = hourly_against_truth("flow_matrix_hourly")
    profiled = hourly_against_truth("flow_matrix_hourly_profiled")
    daily_truth = pl.read_parquet(truth / "true_flows_daily.parquet")
    daily_estimate = warehouse_query(
        data,
        "select origin_camera_id as from_camera, destination_camera_id as to_camera, estimated_flow, flow_se, "
        "flow_ci_low, flow_ci_high, same_group_pairs as pipeline_same_group_pairs, chance_expectation "
        "from marts.flow_matrix_daily",
    )
    daily = daily_estimate.join(daily_truth, on=["from_camera", "to_camera"], how="full", coalesce=True).with_columns(
        pl.col("estimated_flow", "pairs", "pairs_observed", "same_group_pairs", "pipeline_same_group_pairs").fill_null(
            0
        )
    )
    top = top10_store_pairs(daily, role, store).select("from_camera", "to_camera")
    top_hourly = hourly.join(top, on=["from_camera", "to_camera"])
    top_profiled = profiled.join(top, on=["from_camera", "to_camera"])
    top_daily = daily.join(top, on=["from_camera", "to_camera"])

    visits = pl.read_parquet(truth / "true_store_visits.parquet").with_columns(
        _naive("door_in_at").dt.truncate("1h").alias("hour")
    )
    true_dwell_hour = (
        visits.group_by("store_id", "hour")
        .agg((pl.col("dwell_seconds").median() / 60).alias("true_median"), pl.len().alias("visits"))
        .filter(pl.col("visits") >= 20)
    )
    dwell = warehouse_query(
        data,
        "select period, hour_start as hour, scope_id as store_id, dwell_median_minutes from marts.dwell_estimates "
        "where visit_scope = 'store'",
    ).with_columns(pl.col("hour").dt.cast_time_unit("us"))
    dwell_hour = dwell.filter(pl.col("period") == "hour").join(true_dwell_hour, on=["store_id", "hour"])
    true_dwell_day = visits.group_by("store_id").agg((pl.col("dwell_seconds").median() / 60).alias("true_median"))
    dwell_day = dwell.filter(pl.col("period") == "day").join(true_dwell_day, on="store_id")

    footfall_truth = pl.read_parquet(truth / "true_footfall_hourly.parquet").with_columns(_naive("hour"))
    footfall = (
        warehouse_query(data, "select hour_start as hour, camera_id, footfall from marts.footfall_hourly")
        .with_columns(pl.col("hour").dt.cast_time_unit("us"))
        .join(footfall_truth, on=["hour", "camera_id"], how="full", coalesce=True)
        .filter(in_hours)
        .with_columns(pl.col("footfall", "real_passes", "emitted_real", "double_counts").fill_null(0))
        .with_columns((pl.col("emitted_real") - pl.col("double_counts")).alias("emitted_once"))
    )

    known = (pl.col("age_band") != "unknown") & (pl.col("gender") != "unknown")
    shares = pl.col("n") / pl.col("n").sum().over("store_id")
    estimated_demo = (
        warehouse_query(
            data,
            "select store_id, age_band, gender, visitors as n from marts.store_demographics "
            "where period = 'day' and visitors is not null",
        )
        .filter(known)
        .with_columns(shares.alias("estimated_share"))
    )
    true_demo = (
        pl.read_parquet(truth / "true_demographics.parquet")
        .filter(pl.col("camera_id").replace_strict(role, default="") == "store_door_in")
        .group_by("store_id", "age_band", "gender")
        .agg(pl.col("persons").sum().alias("n"))
        .with_columns(shares.alias("true_share"))
    )
    demo = true_demo.join(estimated_demo, on=["store_id", "age_band", "gender"], how="full", coalesce=True)
    demo = demo.with_columns(pl.col("estimated_share", "true_share").fill_null(0))

    zone_daily = zone_flows_against_truth(data, daily_truth)
    zone_z = (zone_daily["estimated_flow"] - zone_daily["pairs_observed"]) / zone_daily["flow_se"]

    calibration = warehouse_query(
        data, "select p_estimate, p_sd from marts.reidentification_calibration where calibration_scope = 'all_stores'"
    )
    distinct = pl.col("from_camera") != pl.col("to_camera")
    real_per_group = footfall.filter(pl.col("real_passes") > 0)["real_passes"].mean()
    return {
        "top10_hourly": _weighted_error(top_hourly),
        "top10_daily": _weighted_error(top_daily),
        "top10_expected_hourly": _expected_error(top_hourly),
        "top10_expected_daily": _expected_error(top_daily),
        "top10_pair_persons_per_day": float(top_daily.select(pl.col("pairs").mean()).item()),
        "top10_chance_to_signal": float(
            top_daily.select(pl.col("chance_expectation").sum() / (p * pl.col("pairs").sum())).item()
        ),
        "top10_profiled_hourly": _weighted_error(top_profiled),
        "top10_profiled_expected_hourly": _expected_error(top_profiled),
        "matrix_nmae_hourly": _weighted_error(hourly),
        "matrix_nmae_profiled_hourly": _weighted_error(profiled),
        "matrix_nmae_daily": _weighted_error(daily),
        "total_bias": float(daily["estimated_flow"].sum() / daily["pairs"].sum() - 1),
        "total_bias_emitted": float(daily["estimated_flow"].sum() / daily["pairs_observed"].sum() - 1),
        "total_bias_emitted_z": float(
            (daily["estimated_flow"].sum() - daily["pairs_observed"].sum()) / total_flow_standard_error(data)
        ),
        "dwell_error_store_hour_min": float(
            (dwell_hour["dwell_median_minutes"] - dwell_hour["true_median"]).abs().mean()
        ),
        "dwell_error_store_day_min": float((dwell_day["dwell_median_minutes"] - dwell_day["true_median"]).abs().mean()),
        "footfall_error": float(
            (footfall["footfall"] - footfall["real_passes"]).abs().sum() / footfall["real_passes"].sum()
        ),
        "footfall_error_emitted": float(
            (footfall["footfall"] - footfall["emitted_once"]).abs().sum() / footfall["emitted_once"].sum()
        ),
        "demographic_share_error_pp": float(100 * (demo["estimated_share"] - demo["true_share"]).abs().mean()),
        "coverage_hourly": _coverage(hourly, "pairs"),
        "coverage_daily": _coverage(daily, "pairs"),
        "coverage_emitted_hourly": _coverage(hourly, "pairs_observed"),
        "coverage_profiled_hourly": _coverage(profiled, "pairs"),
        "coverage_profiled_emitted_hourly": _coverage(profiled, "pairs_observed"),
        "coverage_emitted_daily": _coverage(daily, "pairs_observed"),
        "zone_coverage_daily": _coverage(zone_daily, "pairs"),
        "zone_coverage_emitted_daily": _coverage(zone_daily, "pairs_observed"),
        "zone_standardised_error_sd": float(zone_z.std()),
        "p_estimate": float(calibration["p_estimate"][0]) if calibration.height else float("nan"),
        "p_sd": float(calibration["p_sd"][0]) if calibration.height else float("nan"),
        "persons_per_group_camera_hour": float(real_per_group) / N_GROUPS,
        "p_same_person_given_same_group": float(
            daily.filter(distinct)["same_group_pairs"].sum() / daily.filter(distinct)["pipeline_same_group_pairs"].sum()
        ),
    }


def run_folder(work: Path, visitors: int, p: float, seed: int, min_members: float | None) -> Path:
    k = "" if min_members is None else f"-k{min_members:g}"
    return work / f"v{visitors}-p{p:g}{k}-s{seed}"


def measure(
    work: Path,
    visitors: int,
    p: float,
    seed: int,
    min_members: float | None,
    site: Path,
    base: SimulationParameters,
) -> Accuracy:
    data = run_folder(work, visitors, p, seed, min_members)
    shutil.rmtree(data, ignore_errors=True)  # a warehouse left by an older run would mix schemas and days
    began = time.perf_counter()
    result = simulate_day(data, visitors, p, seed, min_members=min_members, site_path=site, base=base)
    simulated = time.perf_counter() - began
    began = time.perf_counter()
    run_pipeline(data)
    piped = time.perf_counter() - began
    return Accuracy(
        visitors,
        p,
        seed,
        min_members if min_members is not None else load_site_config(site).privacy.fictitious.min_members,
        result.occurrences,
        **compare(data, visitors, p),
        simulate_seconds=simulated,
        pipeline_seconds=piped,
    )


COLUMNS = [
    ("visitors/h", "visitors_per_hour", "{:,}"),
    ("p", "p", "{:.1f}"),
    ("k", "min_members", "{:g}"),
    ("seed", "seed", "{}"),
    ("top-10 store flows h / d", ("top10_hourly", "top10_daily"), "{:.0%} / {:.0%}"),
    ("expected from own SE h / d", ("top10_expected_hourly", "top10_expected_daily"), "{:.0%} / {:.0%}"),
    (
        "top-10 pair persons/day, chance / signal",
        ("top10_pair_persons_per_day", "top10_chance_to_signal"),
        "{:,.0f}, {:.0f}",
    ),
    (
        "lag-profile hourly: top-10 / own SE / nMAE",
        ("top10_profiled_hourly", "top10_profiled_expected_hourly", "matrix_nmae_profiled_hourly"),
        "{:.0%} / {:.0%} / {:.0%}",
    ),
    ("matrix nMAE h / d", ("matrix_nmae_hourly", "matrix_nmae_daily"), "{:.0%} / {:.0%}"),
    (
        "total bias vs all / emitted passes (z)",
        ("total_bias", "total_bias_emitted", "total_bias_emitted_z"),
        "{:+.1%} / {:+.1%} ({:+.1f})",
    ),
    (
        "median dwell err store-h / store-d (min)",
        ("dwell_error_store_hour_min", "dwell_error_store_day_min"),
        "{:.2f} / {:.2f}",
    ),
    ("footfall err vs all / emitted passes", ("footfall_error", "footfall_error_emitted"), "{:.1%} / {:.1%}"),
    ("demographic share err (pp)", "demographic_share_error_pp", "{:.2f}"),
    ("95 % coverage h / d", ("coverage_hourly", "coverage_daily"), "{:.0%} / {:.0%}"),
    ("... vs emitted passes h / d", ("coverage_emitted_hourly", "coverage_emitted_daily"), "{:.0%} / {:.0%}"),
    (
        "lag-profile hourly coverage vs all / emitted",
        ("coverage_profiled_hourly", "coverage_profiled_emitted_hourly"),
        "{:.0%} / {:.0%}",
    ),
    (
        "zone flows d: coverage vs all / emitted, z sd",
        ("zone_coverage_daily", "zone_coverage_emitted_daily", "zone_standardised_error_sd"),
        "{:.0%} / {:.0%}, {:.2f}",
    ),
    ("p est (sd)", ("p_estimate", "p_sd"), "{:.3f} ({:.3f})"),
    ("real persons per group-camera-hour", "persons_per_group_camera_hour", "{:.2f}"),
    ("P(same person | same-group pair)", "p_same_person_given_same_group", "{:.1%}"),
    ("sim / pipeline s", ("simulate_seconds", "pipeline_seconds"), "{:.0f} / {:.0f}"),
]


def row(result: Accuracy) -> str:
    values = asdict(result)
    cells = []
    for _, keys, template in COLUMNS:
        names = keys if isinstance(keys, tuple) else (keys,)
        cells.append(template.format(*(values[name] for name in names)))
    return "| " + " | ".join(cells) + " |"


def header() -> str:
    return "| " + " | ".join(c[0] for c in COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def _sd(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _mean_and_se(values: list[float]) -> tuple[float, float]:
    """The mean of daily figures and its standard error from their day-to-day spread."""
    return sum(values) / len(values), _sd(values) / math.sqrt(len(values))


def _mean(days: list[Accuracy], name: str) -> float:
    return sum(getattr(day, name) for day in days) / len(days)


def many_days(results: list[Accuracy]) -> str:
    """One row per setting over its simulated days: mean daily errors with their standard errors."""
    lines = [
        "| visitors/h | p | k | days | total bias vs all | vs emitted (SE) | total z mean / sd "
        "| p est - p (SE) | p z sd | footfall err vs emitted | top-10 h / profiled h / d | coverage vs emitted h / d |",
        "|" + "---|" * 12,
    ]
    settings = sorted({(r.visitors_per_hour, r.p, r.min_members) for r in results})
    for visitors, p, k in settings:
        days = [r for r in results if (r.visitors_per_hour, r.p, r.min_members) == (visitors, p, k)]
        if len(days) < 2:
            continue
        bias_all, bias_all_se = _mean_and_se([d.total_bias for d in days])
        bias, bias_se = _mean_and_se([d.total_bias_emitted for d in days])
        z = [d.total_bias_emitted_z for d in days]
        p_error, p_error_se = _mean_and_se([d.p_estimate - p for d in days])
        p_z = [(d.p_estimate - p) / d.p_sd for d in days]
        top10 = [_mean(days, name) for name in ("top10_hourly", "top10_profiled_hourly", "top10_daily")]
        lines.append(
            f"| {visitors:,} | {p:.1f} | {k:g} | {len(days)} "
            f"| {bias_all:+.1%} ({bias_all_se:.1%}) | {bias:+.1%} ({bias_se:.1%}) "
            f"| {sum(z) / len(z):+.2f} / {_sd(z):.2f} | {p_error:+.4f} ({p_error_se:.4f}) | {_sd(p_z):.2f} "
            f"| {_mean(days, 'footfall_error_emitted'):.1%} "
            f"| {top10[0]:.0%} / {top10[1]:.0%} / {top10[2]:.0%} "
            f"| {_mean(days, 'coverage_emitted_hourly'):.0%} / {_mean(days, 'coverage_emitted_daily'):.0%} |"
        )
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    """'3' or '1-11'."""
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", default="1000,5000,20000", help="comma-separated traffic levels")
    parser.add_argument("--p", default="0.3,0.5,0.7", help="comma-separated same-group probabilities")
    parser.add_argument("--settings", help="explicit visitors:p list instead of the grid, e.g. 5000:0.5,1000:0.5")
    parser.add_argument("--seeds", type=_seeds, default=[1], help="a seed or a range of seeds (days), e.g. 1-11")
    parser.add_argument("--min-members", type=float, help="the fictitious plan's privacy floor k (default: the site's)")
    parser.add_argument("--site", type=Path, default=demo_site()[0], help="site YAML (default: the demo mall)")
    parser.add_argument(
        "--simulation", type=Path, help="a 'simulation:' YAML of simulator parameters (default: the defaults)"
    )
    parser.add_argument("--work", type=Path, default=Path("./individ-data/benchmarks/accuracy"))
    parser.add_argument("--json", type=Path, help="also write the results as JSON lines here")
    parser.add_argument(
        "--recompare", action="store_true", help="no new runs: recompute the table from --json's runs in --work"
    )
    args = parser.parse_args(argv)
    settings = [(int(v), float(p)) for v in args.visitors.split(",") for p in args.p.split(",")]
    if args.settings:
        settings = [(int(v), float(p)) for v, p in (item.split(":") for item in args.settings.split(","))]
    base = load_simulation_parameters(args.simulation) if args.simulation else SimulationParameters()
    site_k = load_site_config(args.site).privacy.fictitious.min_members
    print(f"site {args.site}, simulation {args.simulation or 'defaults'}\n", flush=True)
    print(header(), flush=True)
    results = []
    if args.recompare:
        for line in args.json.read_text(encoding="utf-8").splitlines():
            old = json.loads(line)
            visitors, p, k, seed = old["visitors_per_hour"], old["p"], old["min_members"], old["seed"]
            metrics = compare(run_folder(args.work, visitors, p, seed, None if k == site_k else k), visitors, p)
            kept = {key: old[key] for key in ("occurrences", "simulate_seconds", "pipeline_seconds")}
            results.append(Accuracy(visitors, p, seed, k, **kept, **metrics))
            print(row(results[-1]), flush=True)
    else:
        for seed in args.seeds:
            for visitors, p in settings:
                results.append(measure(args.work, visitors, p, seed, args.min_members, args.site, base))
                print(row(results[-1]), flush=True)
                if args.json:
                    with args.json.open("a", encoding="utf-8") as sink:
                        sink.write(json.dumps(asdict(results[-1])) + "\n")
    if len({r.seed for r in results}) > 1:
        print("\nmany days (mean of the daily figures, with its standard error):\n", flush=True)
        print(many_days(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
