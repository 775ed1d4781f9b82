"""Keys: the LSH key rotates on schedule, and no key material is stored with the data.

Without the site secret nobody can compute a person's group from a photo, so the secret must never sit
next to the data it protects. Heartbeats carry the key epoch (a number), never the key.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from individ.audit.model import Guarantee, Section, Table, check, not_measured
from individ.audit.scan import Finding, WarehouseScan
from individ.site_config import SiteConfig

# The sensor's rule (sensors.service.default_key_file, sensors.privacy.keys.key_file_path), restated here
# because the shared core does not import the sensor package.
KEY_FILE_ENV = "INDIVID_SENSOR_KEY_FILE"


def configured_key_file(config: SiteConfig, config_dir: Path | None) -> Path:
    """Where the sensor keeps the site secret for this configuration."""
    override = os.environ.get(KEY_FILE_ENV)
    if override:
        return Path(override).expanduser().resolve()
    configured = config.sensor.get("key_file")
    if configured:
        path = Path(str(configured)).expanduser()
        return (path if path.is_absolute() or config_dir is None else config_dir / path).resolve()
    return (Path.home() / ".config" / "individ" / f"{config.site.id}.key").resolve()


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def epoch_spans(heartbeats: pl.DataFrame) -> pl.DataFrame:
    """Per sensor and epoch: first and last minute seen, and hours spanned."""
    return (
        heartbeats.group_by("sensor_id", "lsh_key_epoch")
        .agg(pl.col("minute_start").min().alias("first"), pl.col("minute_start").max().alias("last"))
        .with_columns(((pl.col("last") - pl.col("first")).dt.total_minutes() / 60 + 1 / 60).alias("hours"))
        .sort("sensor_id", "first")
    )


def measure_keys(
    config: SiteConfig,
    heartbeats: pl.DataFrame,
    landing_findings: list[Finding],
    warehouse: WarehouseScan | None,
    key_file: Path,
    stored_folders: list[Path],
) -> Section:
    rotation = float(config.privacy.key_rotation_hours)
    figures: dict[str, object] = {"key_rotation_hours": rotation}
    tables: list[Table] = []
    guarantees: list[Guarantee] = []
    claim_rotation = f"The LSH key changes at least every {rotation:g} h (no epoch in use longer)."
    if heartbeats.height == 0:
        guarantees.append(not_measured("keys.rotation", claim_rotation, rotation, "<=", "no heartbeats", unit="h"))
    else:
        spans = epoch_spans(heartbeats)
        backwards = (
            heartbeats.sort("minute_start")
            .group_by("sensor_id", "camera_id", maintain_order=True)
            .agg((pl.col("lsh_key_epoch").diff() < 0).sum().alias("back"))["back"]
            .sum()
        )
        longest = float(spans["hours"].max())  # type: ignore[arg-type]
        figures |= {
            "epochs_seen": sorted(set(spans["lsh_key_epoch"].to_list())),
            "longest_epoch_hours": round(longest, 2),
            "epoch_went_backwards": int(backwards),
        }
        tables.append(
            Table(
                "Key epochs seen in heartbeats",
                ["sensor", "epoch", "first minute", "last minute"],
                [[s, e, f.isoformat(), last.isoformat()] for s, e, f, last, _ in spans.iter_rows()],
            )
        )
        guarantees.append(
            check(
                "keys.rotation",
                claim_rotation,
                round(longest if not backwards else float("nan"), 2),
                rotation,
                "<=",
                unit="h",
                detail=f"{spans.height} (sensor, epoch) spans; longest {longest:.2f} h; "
                f"{backwards} times an epoch number went backwards",
            )
        )
    stored_keys = [f for f in landing_findings if f.is_key_material]
    if warehouse is not None:
        stored_keys += [f for f in warehouse.findings if f.is_key_material]
    key_near_data = [folder for folder in stored_folders if _is_within(key_file, folder.resolve())]
    figures |= {"key_material_findings": len(stored_keys), "key_file_under_data": bool(key_near_data)}
    if stored_keys:
        tables.append(
            Table(
                "Key material found with the data",
                ["where", "location", "looks like", "detail"],
                [[f.where, f.location, f.kind, f.detail] for f in stored_keys[:50]],
            )
        )
    guarantees.append(
        check(
            "keys.no_key_material_stored",
            "No key material is stored with the data (landing zone, warehouse).",
            len(stored_keys),
            0,
            "<=",
            unit="items",
            detail="files named or shaped like keys, high-entropy files that are not segments, key-shaped text "
            "values in the warehouse" + ("" if warehouse is not None else " (warehouse not scanned)"),
        )
    )
    guarantees.append(
        check(
            "keys.key_file_apart",
            "The sensor's key file lies outside the landing zone and the data folder.",
            len(key_near_data),
            0,
            "<=",
            unit="folders",
            detail="the key file configured for the sensor (sensor.key_file, $INDIVID_SENSOR_KEY_FILE or the "
            "default under ~/.config/individ) "
            + (
                "lies under " + ", ".join(str(f) for f in key_near_data)
                if key_near_data
                else "lies apart from the data"
            ),
        )
    )
    return Section("keys", "Keys", _EXPLANATION, figures, tables, guarantees)


_EXPLANATION = (
    "Groups are computed with a keyed locality-sensitive hash. The key of each epoch is derived from a site "
    "secret that stays in one file next to the sensor (readable by its owner only); the epoch number goes out in "
    "heartbeats, the key never does. Rotation makes group ids of different epochs unrelated, so stored data of "
    "two days cannot be linked by group. The audit lists the epochs seen, checks that none was used longer than "
    "the configured period, and searches the stored data for anything that looks like key material. The key "
    "file's path is not printed."
)
