"""Deletion: how fast the sensor drops image and features, and whether anything personal is at rest.

The latency is the sensor's own measurement, per camera and minute, from a frame's arrival to the
moment its pixels and every feature derived from it are gone; the audit aggregates it. The scans show
what is actually stored.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from individ.audit.model import Guarantee, Section, Table, check, not_measured
from individ.audit.scan import Finding, WarehouseScan

LATENCY_P99_LIMIT_MS = 100.0  # the sensor's frame-to-deletion target on CPU


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value below which at least a share q of the weight lies."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    index = min(int(np.searchsorted(cumulative, q)), values.size - 1)
    return float(values[order][index])


def _findings_table(title: str, findings: list[Finding]) -> Table:
    return Table(
        title,
        ["where", "location", "looks like", "detail"],
        [[f.where, f.location, f.kind, f.detail] for f in findings[:50]],
    )


def measure_deletion(
    heartbeats: pl.DataFrame,
    landing_findings: list[Finding],
    warehouse: WarehouseScan | None,
    warehouse_reason: str,
) -> Section:
    figures: dict[str, object] = {}
    tables: list[Table] = []
    guarantees: list[Guarantee] = []
    claim_latency = f"Image and features are deleted within {LATENCY_P99_LIMIT_MS:g} ms of the frame (p99)."
    timed = heartbeats.filter(pl.col("latency_p99_ms").is_not_null() & (pl.col("frames_processed") > 0))
    if timed.height == 0:
        guarantees.append(
            not_measured(
                "deletion.latency_p99",
                claim_latency,
                LATENCY_P99_LIMIT_MS,
                "<=",
                "no heartbeat carries a latency (no frames processed)",
                unit="ms",
            )
        )
    else:
        weights = timed["frames_processed"].to_numpy().astype(float)
        p50 = timed["latency_p50_ms"].fill_null(strategy="zero").to_numpy()
        p99 = timed["latency_p99_ms"].to_numpy()
        median = weighted_quantile(p50, weights, 0.5)
        # The p99 over the period: the 99th percentile of the heartbeats' p99, weighted by frames. A heartbeat
        # carries the latency of its camera-hour (older sensors: of its minute).
        overall99 = weighted_quantile(p99, weights, 0.99)
        figures |= {
            "heartbeats_with_latency": timed.height,
            "frames_processed": int(weights.sum()),
            "latency_p50_ms": round(median, 2),
            "latency_p99_ms": round(overall99, 2),
            "latency_worst_heartbeat_p99_ms": round(float(p99.max()), 2),
        }
        per_camera = (
            timed.group_by("camera_id")
            .agg(pl.col("latency_p50_ms").median().alias("p50"), pl.col("latency_p99_ms").max().alias("p99"))
            .sort("camera_id")
        )
        tables.append(
            Table(
                "Frame-to-deletion latency per camera (ms)",
                ["camera", "median of heartbeat p50", "worst heartbeat p99"],
                [[c, round(a, 1), round(b, 1)] for c, a, b in per_camera.iter_rows()],
            )
        )
        guarantees.append(
            check(
                "deletion.latency_p99",
                claim_latency,
                round(overall99, 2),
                LATENCY_P99_LIMIT_MS,
                "<=",
                unit="ms",
                detail=f"99th percentile over {timed.height} heartbeats (camera-hours; camera-minutes from older "
                f"sensors) of their p99, weighted by frames; median p50 {median:.1f} ms",
            )
        )
    personal = [f for f in landing_findings if not f.is_key_material]
    figures["landing_findings"] = len(personal)
    if personal:
        tables.append(_findings_table("Landing zone: files that are not contract data", personal))
    guarantees.append(
        check(
            "deletion.landing_zone_scan",
            "The landing zone holds contract segments only: no image, video, array or other file.",
            len(personal),
            0,
            "<=",
            unit="files",
            detail="every file read: magic bytes, Parquet schema against contract v1, names",
        )
    )
    claim_warehouse = (
        "The warehouse holds no image, array, vector, free text or column outside the contract "
        "and the models built on it."
    )
    if warehouse is None:
        guarantees.append(
            not_measured("deletion.warehouse_scan", claim_warehouse, 0, "<=", warehouse_reason, unit="columns")
        )
    else:
        personal_columns = [f for f in warehouse.findings if not f.is_key_material]
        figures["warehouse"] = {
            "source": warehouse.source,
            "tables": warehouse.tables,
            "columns": warehouse.columns,
            "findings": len(personal_columns),
        }
        if personal_columns:
            tables.append(_findings_table("Warehouse: columns that are not contract data", personal_columns))
        guarantees.append(
            check(
                "deletion.warehouse_scan",
                claim_warehouse,
                len(personal_columns),
                0,
                "<=",
                unit="columns",
                detail=f"{warehouse.columns} columns in {warehouse.tables} tables and views of {warehouse.source}: "
                "types, names, text lengths",
            )
        )
    return Section("deletion", "Deletion", _EXPLANATION, figures, tables, guarantees)


_EXPLANATION = (
    "Frames and person crops exist only in the sensor's memory while they are processed; the appearance "
    "embedding only until its group is assigned (a track averages at most 2 s). The sensor measures, for every "
    "frame, the time from its arrival to the deletion of its pixels and of every feature derived from it, and "
    "publishes the per-minute median and 99th percentile in its heartbeats. The scans read every file in the "
    "landing zone (by content, not by name) and every column of the warehouse, and list anything that is not "
    "the anonymous contract data."
)
