"""Linkage: can stored records be tied to one person?

Two questions. (1) Can a demographic record be joined to an occurrence? Demographics must be counts per
camera and window, stamped with the window's start on a window boundary, with no small cell left; a
per-person record (count 1 at the second the person passed) would give away the age and gender of
one occurrence. (2) When an attacker sees two stored events of the same group at two cameras within
the flow window, how likely is it that they are the same person? That is the linkage confidence
(M - B) / M: M same-group pairs seen, B of them expected by chance from the group frequencies, as
the flow estimator counts them. From the simulator's truth, the exact share is reported too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from individ.audit.model import Guarantee, Section, Table, check, not_measured
from individ.contract import N_GROUPS
from individ.site_config import SiteConfig, SmallCellPolicy

LINKAGE_LIMIT = 0.5  # a same-group pair must never be more likely than not the same person
MIN_PAIRS = 50  # camera pairs with fewer same-group pairs are too noisy to judge
TIME_JOIN_Z_LIMIT = 4.0
TRAFFIC_BANDS = ((0, 1000), (1000, 3000), (3000, 10**9))  # events per camera-hour, fictitious included


def demographic_violations(demographics: pl.DataFrame, config: SiteConfig) -> pl.DataFrame:
    """Demographic rows that break the aggregation rules, with the rule each breaks."""
    minutes = config.privacy.demographics_window_minutes
    seconds = pl.col("window_start").dt.epoch("s")
    small = pl.col("count") < config.privacy.min_cell_size
    if config.privacy.small_cells is SmallCellPolicy.MERGE_UNKNOWN:
        small = small & ~((pl.col("age_band") == "unknown") & (pl.col("gender") == "unknown"))
    return demographics.select(
        "camera_id",
        "window_start",
        "count",
        (seconds % (minutes * 60) != 0).alias("off_boundary"),
        (pl.col("window_minutes") != minutes).alias("wrong_window"),
        small.alias("small_cell"),
    ).filter(pl.col("off_boundary") | pl.col("wrong_window") | pl.col("small_cell"))


def time_join(occurrences: pl.DataFrame, demographics: pl.DataFrame, window_minutes: int) -> tuple[int, int, float]:
    """Demographic timestamps that are the exact second of an occurrence at their camera.

    Returns (timestamps, matched, expected by chance). A timestamp on a window boundary matches an
    occurrence only as often as any second of that window does, i.e. with the share of the window's
    seconds that hold an occurrence at that camera; a per-person record matches always.
    """
    seconds = occurrences.select("camera_id", pl.col("observed_at").dt.epoch("s").alias("second")).unique()
    stamps = demographics.select("camera_id", pl.col("window_start").dt.epoch("s").alias("second")).unique()
    matched = stamps.join(seconds, on=["camera_id", "second"], how="semi").height
    length = window_minutes * 60
    # Occupied seconds in [stamp, stamp + window) at the stamp's camera, counted with a sorted search.
    expected = 0.0
    for (camera,), group in stamps.group_by(["camera_id"]):
        occupied = np.sort(seconds.filter(pl.col("camera_id") == camera)["second"].to_numpy())
        starts = group["second"].to_numpy()
        inside = np.searchsorted(occupied, starts + length, "left") - np.searchsorted(occupied, starts, "left")
        expected += float((inside / length).sum())
    return stamps.height, matched, expected


@dataclass(frozen=True)
class PairLinkage:
    from_camera: str
    to_camera: str
    same_group_pairs: int  # M
    chance_pairs: float  # B

    @property
    def confidence(self) -> float:
        return (self.same_group_pairs - self.chance_pairs) / self.same_group_pairs if self.same_group_pairs else 0.0

    @property
    def lower_bound(self) -> float:
        """Confidence minus two Poisson standard errors of M: what the data show beyond doubt."""
        if not self.same_group_pairs:
            return 0.0
        return self.confidence - 2 / np.sqrt(self.same_group_pairs)


def same_group_pairs(
    occurrences: pl.DataFrame, max_lag_seconds: int
) -> tuple[list[PairLinkage], dict[int, tuple[int, float]]]:
    """M and B for every ordered camera pair, and pooled by the traffic band of the first camera's hour."""
    events = occurrences.select(
        "camera_id", pl.col("observed_at").dt.epoch("s").alias("t"), pl.col("group_id").cast(pl.Int64).alias("g")
    ).sort("camera_id", "t")
    cameras = sorted(set(events["camera_id"].to_list()))
    arrays = {}
    for camera in cameras:
        frame = events.filter(pl.col("camera_id") == camera)
        t, g = frame["t"].to_numpy(), frame["g"].to_numpy()  # in time order
        hour = t // 3600
        hourly = np.unique(hour, return_counts=True)
        traffic = dict(zip(hourly[0].tolist(), hourly[1].tolist(), strict=True))
        band = np.array([_band(traffic[h]) for h in hour.tolist()], dtype=np.int64)
        key = g * 10**11 + t  # (group, time) as one sortable number
        order = np.argsort(key, kind="stable")  # searches with sorted needles are the fast ones
        share = np.bincount(g, minlength=N_GROUPS) / max(g.size, 1)
        arrays[camera] = (t, order, g[order], band[order], key[order], share)
    pairs = []
    bands: dict[int, tuple[int, float]] = {}
    for a in cameras:
        t_a, order_a, g_a, band_a, key_a, _ = arrays[a]
        for b in cameras:
            if a == b:
                continue
            t_b, _, _, _, key_b, share_b = arrays[b]
            in_window = np.searchsorted(t_b, t_a + max_lag_seconds, "right") - np.searchsorted(t_b, t_a, "right")
            same = np.searchsorted(key_b, key_a + max_lag_seconds, "right") - np.searchsorted(key_b, key_a, "right")
            chance = in_window[order_a] * share_b[g_a]
            pairs.append(PairLinkage(a, b, int(same.sum()), float(chance.sum())))
            for level in range(len(TRAFFIC_BANDS)):
                mask = band_a == level
                m, c = bands.get(level, (0, 0.0))
                bands[level] = (m + int(same[mask].sum()), c + float(chance[mask].sum()))
    return pairs, bands


def _band(events_per_hour: int) -> int:
    for index, (low, high) in enumerate(TRAFFIC_BANDS):
        if low <= events_per_hour < high:
            return index
    return len(TRAFFIC_BANDS) - 1


def truth_linkage(truth_dir: Path, start: dt.datetime, end: dt.datetime) -> pl.DataFrame | None:
    """Same-person same-group pairs per camera pair from the simulator's truth, where it exists."""
    path = truth_dir / "true_flows_hourly.parquet"
    if not path.is_file():
        return None
    return (
        pl.read_parquet(path)
        .filter((pl.col("hour") >= start) & (pl.col("hour") < end))
        .group_by("from_camera", "to_camera")
        .agg(pl.col("same_group_pairs").sum().alias("true_same_person"))
    )


def measure_linkage(
    config: SiteConfig,
    occurrences: pl.DataFrame,
    demographics: pl.DataFrame,
    start: dt.datetime,
    end: dt.datetime,
    truth_dir: Path | None = None,
) -> Section:
    figures: dict[str, object] = {}
    tables: list[Table] = []
    guarantees: list[Guarantee] = []
    claim_rows = (
        "Every demographic record is a count over a whole configured window, stamped on the window boundary, "
        f"with no cell below {config.privacy.min_cell_size} persons (small cells {config.privacy.small_cells.value})."
    )
    claim_join = "No demographic record can be joined to an occurrence by its timestamp better than chance."
    if demographics.height == 0:
        guarantees.append(not_measured("linkage.demographic_aggregation", claim_rows, 0, "<=", "no demographics"))
        guarantees.append(
            not_measured("linkage.demographic_time_join", claim_join, TIME_JOIN_Z_LIMIT, "<=", "no demographics")
        )
    else:
        bad = demographic_violations(demographics, config)
        figures["demographic_rows"] = demographics.height
        figures["demographic_rows_off_boundary"] = int(bad["off_boundary"].sum())
        figures["demographic_rows_wrong_window"] = int(bad["wrong_window"].sum())
        figures["demographic_rows_small_cell"] = int(bad["small_cell"].sum())
        figures["demographic_rows_count_1_off_boundary"] = int(
            bad.filter(pl.col("off_boundary") & (pl.col("count") == 1)).height
        )
        guarantees.append(
            check(
                "linkage.demographic_aggregation",
                claim_rows,
                bad.height,
                0,
                "<=",
                unit="rows",
                detail=f"{figures['demographic_rows_off_boundary']} rows off a window boundary "
                f"({figures['demographic_rows_count_1_off_boundary']} of them single persons), "
                f"{figures['demographic_rows_wrong_window']} with another window length, "
                f"{figures['demographic_rows_small_cell']} small cells, of {demographics.height} rows",
            )
        )
        rows, matched, expected = time_join(occurrences, demographics, config.privacy.demographics_window_minutes)
        spread = np.sqrt(max(expected * (1 - expected / max(rows, 1)), 1e-9))
        z = (matched - expected) / spread
        figures["time_join"] = {
            "rows": rows,
            "matched": matched,
            "expected_by_chance": round(expected, 1),
            "z": round(z, 2),
        }
        guarantees.append(
            check(
                "linkage.demographic_time_join",
                claim_join,
                round(float(z), 2),
                TIME_JOIN_Z_LIMIT,
                "<=",
                unit="z",
                detail=f"{matched} of {rows} demographic timestamps fall on the exact second of an occurrence at the "
                f"same camera; {expected:.1f} would by chance",
            )
        )
    claim_pair = (
        f"Two stored same-group events at two cameras within {config.flows.max_lag_minutes} min are never more "
        f"likely than {LINKAGE_LIMIT:.0%} to be the same person (camera pairs with >= {MIN_PAIRS} such pairs)."
    )
    if occurrences.height == 0:
        guarantees.append(
            not_measured("linkage.same_group_pair_confidence", claim_pair, LINKAGE_LIMIT, "<=", "no occurrences")
        )
        return Section("linkage", "Linkage", _EXPLANATION, figures, tables, guarantees)
    pairs, bands = same_group_pairs(occurrences, config.flows.max_lag_minutes * 60)
    judged = [p for p in pairs if p.same_group_pairs >= MIN_PAIRS]
    truth = truth_linkage(truth_dir, start, end) if truth_dir is not None else None
    true_share = {}
    if truth is not None:
        for a, b, same in truth.iter_rows():
            true_share[(a, b)] = same
    ranked = sorted(pairs, key=lambda p: p.confidence, reverse=True)
    tables.append(
        Table(
            "Linkage confidence per camera pair (highest first, at most 15)",
            ["from", "to", "same-group pairs M", "by chance B", "(M - B) / M", "lower bound", "truth"],
            [
                [
                    p.from_camera,
                    p.to_camera,
                    p.same_group_pairs,
                    round(p.chance_pairs, 1),
                    round(p.confidence, 3),
                    round(p.lower_bound, 3),
                    round(true_share[(p.from_camera, p.to_camera)] / p.same_group_pairs, 3)
                    if (p.from_camera, p.to_camera) in true_share and p.same_group_pairs
                    else None,
                ]
                for p in ranked[:15]
            ],
        )
    )
    band_rows = []
    for level, (m, c) in sorted(bands.items()):
        low, high = TRAFFIC_BANDS[level]
        label = f"{low}-{high}" if high < 10**9 else f">= {low}"
        band_rows.append([label, m, round(c, 1), round((m - c) / m, 3) if m else None])
    tables.append(
        Table(
            "Linkage confidence by traffic (events per camera-hour at the first camera)",
            ["events/h", "M", "B", "(M - B) / M"],
            band_rows,
        )
    )
    total_m = sum(p.same_group_pairs for p in pairs)
    total_b = sum(p.chance_pairs for p in pairs)
    figures["same_group_pairs"] = total_m
    figures["chance_pairs"] = round(total_b, 1)
    figures["pooled_confidence"] = round((total_m - total_b) / total_m, 4) if total_m else None
    if true_share:
        true_total = sum(true_share.get((p.from_camera, p.to_camera), 0) for p in pairs)
        figures["pooled_confidence_truth"] = round(true_total / total_m, 4) if total_m else None
    if not judged:
        guarantees.append(
            not_measured(
                "linkage.same_group_pair_confidence",
                claim_pair,
                LINKAGE_LIMIT,
                "<=",
                f"no camera pair has {MIN_PAIRS} same-group pairs",
            )
        )
    else:
        worst = max(judged, key=lambda p: p.lower_bound)
        figures["worst_pair"] = {
            "from": worst.from_camera,
            "to": worst.to_camera,
            "confidence": round(worst.confidence, 4),
            "lower_bound": round(worst.lower_bound, 4),
        }
        guarantees.append(
            check(
                "linkage.same_group_pair_confidence",
                claim_pair,
                round(worst.lower_bound, 4),
                LINKAGE_LIMIT,
                "<=",
                unit="probability",
                detail=f"worst pair {worst.from_camera} -> {worst.to_camera}: (M - B) / M = {worst.confidence:.3f} "
                f"(M = {worst.same_group_pairs}, B = {worst.chance_pairs:.1f}); value is its lower 2-sigma bound",
            )
        )
    return Section("linkage", "Linkage", _EXPLANATION, figures, tables, guarantees)


_EXPLANATION = (
    "Demographic records must not attach an age or a gender to an occurrence: they are counts per camera and "
    "window, written when the window closes and stamped with its start, and cells smaller than the configured "
    "minimum are merged or suppressed. The audit lists every record that breaks these rules and tests whether "
    "demographic timestamps coincide with occurrence seconds at the same camera more often than chance. "
    "For occurrences, the attacker's best use of the data is to link two same-group events at two cameras. "
    "Over all such pairs within the flow window, M are seen and B are expected between unrelated persons from "
    "the group frequencies (fictitious persons included); (M - B) / M estimates the probability that such a pair "
    "is one person. Low values mean the stored data cannot follow anybody; the flow analytics still work "
    "because they count pairs statistically. Where the simulator's ground truth is present, the true share is shown."
)
