"""``run_audit``: every privacy guarantee of one site and period, measured into one report.

Pure in the sense that matters for the Dagster asset: it reads (never writes) the landing zone, the
warehouse (read-only) and the simulator's truth if present, and returns an ``AuditReport``; writing the
HTML and JSON is ``individ.audit.report.write_report``. The grouping and noise measurements that need the
sensor's code come in as ``sensor_figures`` (``sensors.audit_grouping.sensor_figures``, or the last CLI
run's through ``individ.audit.report.latest_sensor_figures``) with ``sensor_note`` saying where they come
from, or are reported as not measured with ``sensor_note`` saying why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

from individ.audit.deletion import measure_deletion
from individ.audit.groups import measure_groups
from individ.audit.inference import measure_inference
from individ.audit.keys import configured_key_file, measure_keys
from individ.audit.linkage import measure_linkage
from individ.audit.model import AuditReport, Section, SensorFigures
from individ.audit.scan import WarehouseScan, scan_landing_zone, scan_warehouse
from individ.audit.sensor_sections import grouping_section, noise_section
from individ.audit.stored import load_stored_data
from individ.contract import LandingZone
from individ.site_config import SiteConfig

NO_SENSOR = "the sensor package is not importable here: run `individ audit` where the sensor is installed"


def run_audit(
    config: SiteConfig,
    *,
    landing_root: str,
    start: dt.datetime,
    end: dt.datetime,
    warehouse: Path | None = None,
    truth_dir: Path | None = None,
    data_dir: Path | None = None,
    config_dir: Path | None = None,
    sensor_figures: SensorFigures | None = None,
    sensor_note: str = NO_SENSOR,
    now: dt.datetime | None = None,
) -> AuditReport:
    """Measure every guarantee for [start, end) (UTC) and return the report.

    ``landing_root``: the site's landing zone (folder or s3:// URL). ``warehouse``: the DuckDB file (its
    published snapshot is read if a run holds the lock); None or absent: not measured. ``truth_dir``: the
    simulator's ground truth, used where present. ``data_dir``: the data folder, which must not hold the
    sensor's key file. ``config_dir``: the site YAML's folder (relative key file paths).
    """
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must be time-zone aware with start < end")
    landing = LandingZone(landing_root)
    stored = load_stored_data(landing, start, end)
    landing_findings = scan_landing_zone(landing)
    warehouse_scan: WarehouseScan | None = None
    warehouse_reason = "no warehouse given"
    if warehouse is not None:
        try:
            warehouse_scan = scan_warehouse(warehouse)
        except FileNotFoundError:
            warehouse_reason = f"no warehouse at {warehouse} (nothing ingested yet)"
        except RuntimeError as exc:
            warehouse_reason = str(exc)
    folders = [Path(landing_root)] if "://" not in landing_root else []
    if data_dir is not None:
        folders.append(data_dir)
    key_file = configured_key_file(config, config_dir)
    sections: list[Section] = [
        grouping_section(sensor_figures, sensor_note),
        noise_section(config, sensor_figures, sensor_note),
        measure_groups(config, stored.occurrences, stored.heartbeats, now),
        measure_inference(
            stored.occurrences, stored.demographics, stored.heartbeats, config.privacy.demographics_window_minutes
        ),
        measure_linkage(config, stored.occurrences, stored.demographics, start, end, truth_dir),
        measure_deletion(stored.heartbeats, landing_findings, warehouse_scan, warehouse_reason),
        measure_keys(config, stored.heartbeats, landing_findings, warehouse_scan, key_file, folders),
    ]
    inputs = {
        "landing_zone": landing_root,
        "segments_read": stored.segments,
        "rows": {
            "occurrences": stored.occurrences.height,
            "demographics": stored.demographics.height,
            "heartbeats": stored.heartbeats.height,
        },
        "unreadable_segments": [{"segment": path, "reason": reason} for path, reason in stored.unreadable],
        "warehouse": str(warehouse) if warehouse_scan is not None else None,
        "truth": str(truth_dir) if truth_dir is not None and truth_dir.is_dir() else None,
        "sensor_figures": asdict(sensor_figures) if sensor_figures is not None else None,
    }
    return AuditReport(
        site_id=config.site.id,
        site_name=config.site.name,
        period_start=start,
        period_end=end,
        generated_at=now or dt.datetime.now(dt.UTC),
        inputs=inputs,
        sections=sections,
    )
