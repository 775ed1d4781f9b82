"""What a per-pair lag profile learnt from other days would give the top-10 store flows (a study; not built).

    uv run python benchmarks/study_history_lag_profile.py DIR [DIR ...]

Each DIR is one simulated day's run folder of the same mall and setting, as ``benchmarks/accuracy.py
--seeds 1-11 --work W`` leaves them (``W/v5000-p0.5-s1`` ...). A walk straight from store X to store Y
takes a minute or two of the 30-minute window, chance pairs spread evenly over it, so a pair's excess
within the direct lag D (``direct_excess_pairs``) is far less noisy than its full-window excess. Scaling
the day's direct excess by the pair's ratio R = full / direct excess summed over the OTHER days (the
history a deployed site would have) estimates the full-window flow:

    F^(day) = E_D(day) x R(other days) x estimated_flow(day) / excess_pairs(day)

The last factor is the day's own c / (p - s) as ``flow_matrix_daily`` applies it. The table compares, per
day, the top-10 store flows' error of the built estimator (full window, ``flow_matrix_daily``; hourly:
``flow_matrix_hourly_profiled``) with this one, against every real pass (the simulator's truth). It
assumes a pair's lag profile is the same every day, which the simulator's independent days satisfy by
construction and a real mall (weekdays against weekends) may not: docs/open-problems.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import top10_store_pairs
from harness import warehouse_query

PAIR = ["from_camera", "to_camera"]


def _day(folder: Path) -> dict[str, pl.DataFrame]:
    hourly = warehouse_query(
        folder,
        "select hour_start, origin_camera_id as from_camera, destination_camera_id as to_camera, excess_pairs, "
        "direct_excess_pairs from marts.flow_matrix_hourly",
    )
    profiled = warehouse_query(
        folder,
        "select hour_start, origin_camera_id as from_camera, destination_camera_id as to_camera, estimated_flow "
        "from marts.flow_matrix_hourly_profiled",
    )
    daily = warehouse_query(
        folder,
        "select origin_camera_id as from_camera, destination_camera_id as to_camera, excess_pairs, estimated_flow "
        "from marts.flow_matrix_daily",
    )
    cameras = warehouse_query(folder, "select camera_id, role, store_id from raw.cameras")
    truth_hourly = pl.read_parquet(folder / "truth" / "true_flows_hourly.parquet").with_columns(
        pl.col("hour").dt.replace_time_zone(None).dt.cast_time_unit("us").alias("hour_start")
    )
    return {
        "hourly": hourly,
        "profiled": profiled,
        "daily": daily,
        "cameras": cameras,
        "truth_hourly": truth_hourly,
        "truth_daily": pl.read_parquet(folder / "truth" / "true_flows_daily.parquet"),
    }


def _relative_error(estimate: pl.Series, truth: pl.Series) -> float:
    return float((estimate - truth).abs().sum() / truth.sum())


def main(argv: list[str] | None = None) -> int:
    folders = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])]
    if len(folders) < 2:
        print("give two or more run folders of the same mall and setting", file=sys.stderr)
        return 2
    days = {folder: _day(folder) for folder in folders}
    sums = {
        folder: day["hourly"].group_by(PAIR).agg(pl.col("excess_pairs", "direct_excess_pairs").sum())
        for folder, day in days.items()
    }
    all_days = pl.concat(sums.values()).group_by(PAIR).sum()
    print(
        "| day | top-10 daily: built / history profile | bias: built / history profile "
        "| top-10 hourly: built (lag profile of the day) / history profile |"
    )
    print("|---|---|---|---|")
    totals = []
    for folder, day in days.items():
        cameras = day["cameras"]
        role = dict(zip(cameras["camera_id"], cameras["role"], strict=True))
        store = dict(zip(cameras["camera_id"], cameras["store_id"], strict=True))
        top = top10_store_pairs(day["truth_daily"], role, store).select(*PAIR, "pairs")
        history = (
            sums[folder]
            .join(all_days, on=PAIR, suffix="_all")
            .with_columns(
                (
                    (pl.col("excess_pairs_all") - pl.col("excess_pairs"))
                    / (pl.col("direct_excess_pairs_all") - pl.col("direct_excess_pairs"))
                ).alias("ratio")
            )
            .join(day["daily"].rename({"excess_pairs": "day_excess"}), on=PAIR)
            .with_columns((pl.col("estimated_flow") / pl.col("day_excess")).alias("scale"))
        )
        daily = top.join(history, on=PAIR).with_columns(
            (pl.col("direct_excess_pairs") * pl.col("ratio") * pl.col("scale")).alias("history_flow")
        )
        hours = (
            day["hourly"]
            .join(top.select(PAIR), on=PAIR)
            .join(history.select(*PAIR, "ratio", "scale"), on=PAIR)
            .with_columns((pl.col("direct_excess_pairs") * pl.col("ratio") * pl.col("scale")).alias("history_flow"))
            .join(day["profiled"], on=["hour_start", *PAIR])
            .with_columns(pl.col("hour_start").dt.cast_time_unit("us"))
            .join(day["truth_hourly"].select("hour_start", *PAIR, "pairs"), on=["hour_start", *PAIR], how="left")
            .with_columns(pl.col("pairs").fill_null(0))
            .filter(pl.col("pairs") > 0)
        )
        figures = (
            _relative_error(daily["estimated_flow"], daily["pairs"]),
            _relative_error(daily["history_flow"], daily["pairs"]),
            float(daily["estimated_flow"].sum() / daily["pairs"].sum() - 1),
            float(daily["history_flow"].sum() / daily["pairs"].sum() - 1),
            _relative_error(hours["estimated_flow"], hours["pairs"]),
            _relative_error(hours["history_flow"], hours["pairs"]),
        )
        totals.append(figures)
        print(
            f"| {Path(*folder.parts[-2:])} | {figures[0]:.1%} / {figures[1]:.1%} "
            f"| {figures[2]:+.1%} / {figures[3]:+.1%} | {figures[4]:.1%} / {figures[5]:.1%} |"
        )
    mean = [sum(column) / len(totals) for column in zip(*totals, strict=True)]
    print(
        f"| mean of {len(totals)} days | {mean[0]:.1%} / {mean[1]:.1%} | {mean[2]:+.1%} / {mean[3]:+.1%} "
        f"| {mean[4]:.1%} / {mean[5]:.1%} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
