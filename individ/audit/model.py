"""The audit's value objects: a guarantee with its number and threshold, a report section, the report.

A guarantee is a promise the product makes, checked against one measured number. Its status is
``pass`` or ``fail`` when the number exists, ``not_measured`` (with the reason) when the data needed
for it are absent; nothing is ever passed by default.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

Comparison = Literal["<=", ">=", "=="]

# Every guarantee the audit reports, in report order: a report always holds each exactly once, so a
# scheduler can declare one check per id before any audit ran.
GUARANTEE_IDS: tuple[str, ...] = (
    "grouping.p_diff",
    "noise.configured",
    "noise.attacker_hit_rate",
    "groups.min_members_configured",
    "groups.cells_below_min",
    "groups.plan_matches_config",
    "groups.fictitious_follow_plan",
    "inference.gender_classifier",
    "inference.age_classifier",
    "linkage.demographic_aggregation",
    "linkage.demographic_time_join",
    "linkage.same_group_pair_confidence",
    "deletion.latency_p99",
    "deletion.landing_zone_scan",
    "deletion.warehouse_scan",
    "keys.rotation",
    "keys.no_key_material_stored",
    "keys.key_file_apart",
)


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_MEASURED = "not_measured"


@dataclass(frozen=True)
class Guarantee:
    """One promise, the number that checks it and the threshold it must meet."""

    id: str  # stable dotted name, e.g. "groups.cells_below_min"; Dagster checks are named after it
    claim: str  # the promise in plain words
    status: Status
    value: float | None
    threshold: float | None
    comparison: Comparison  # value <comparison> threshold must hold
    unit: str
    detail: str  # how the number was obtained, or why it could not be

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    @property
    def slug(self) -> str:
        """The id with underscores only (for names that allow no dots, e.g. Dagster asset checks)."""
        return self.id.replace(".", "__")


def check(
    id: str,
    claim: str,
    value: float,
    threshold: float,
    comparison: Comparison,
    *,
    unit: str = "",
    detail: str = "",
) -> Guarantee:
    """A measured guarantee; a NaN value cannot pass."""
    if math.isnan(value):
        holds = False
    elif comparison == "<=":
        holds = value <= threshold
    elif comparison == ">=":
        holds = value >= threshold
    else:
        holds = value == threshold
    status = Status.PASS if holds else Status.FAIL
    return Guarantee(id, claim, status, float(value), float(threshold), comparison, unit, detail)


def not_measured(
    id: str, claim: str, threshold: float | None, comparison: Comparison, reason: str, *, unit: str = ""
) -> Guarantee:
    return Guarantee(id, claim, Status.NOT_MEASURED, None, threshold, comparison, unit, reason)


@dataclass(frozen=True)
class Table:
    """A small table for the report (already rounded, JSON-ready)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    explanation: str  # what is measured, on which data, and how to read it
    figures: dict[str, Any] = field(default_factory=dict)  # JSON-ready numbers
    tables: list[Table] = field(default_factory=list)
    guarantees: list[Guarantee] = field(default_factory=list)


@dataclass(frozen=True)
class AuditReport:
    site_id: str
    site_name: str
    period_start: dt.datetime
    period_end: dt.datetime
    generated_at: dt.datetime
    inputs: dict[str, Any]  # what was read: folders, segment and row counts
    sections: list[Section]

    def guarantees(self) -> list[Guarantee]:
        return [g for section in self.sections for g in section.guarantees]

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    def guarantee(self, guarantee_id: str) -> Guarantee:
        for guarantee in self.guarantees():
            if guarantee.id == guarantee_id:
                return guarantee
        raise KeyError(guarantee_id)

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["period_start"] = self.period_start.isoformat()
        data["period_end"] = self.period_end.isoformat()
        data["generated_at"] = self.generated_at.isoformat(timespec="seconds")
        counts = {status.value: 0 for status in Status}
        for guarantee in self.guarantees():
            counts[guarantee.status.value] += 1
        data["summary"] = counts
        return data


def failed_guarantees(report: AuditReport) -> list[Guarantee]:
    """The guarantees the measured data break (not-measured ones are not failures)."""
    return [g for g in report.guarantees() if g.failed]


@dataclass(frozen=True)
class Interval:
    """An estimate with a 95 % interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class GroupingMeasurement:
    """p_same / p_diff of the sensor's embedding + noise + keyed hashing on one set of image pairs."""

    source: str  # e.g. "cuhk03_subset (real, two cameras)" or "generated appearance crops"
    real_images: bool
    identities: int
    same_pairs: int
    different_pairs: int
    keys: int  # number of random LSH keys averaged over
    noise_sigma: float
    p_same: Interval
    p_diff: Interval


@dataclass(frozen=True)
class NoiseMeasurement:
    """Anonymity set of the transient noisy embedding against a reference population."""

    source: str
    reference_size: int
    probes: int
    noise_sigma: float
    median: float
    p5: float
    # Probability that an attacker holding the key and the person's clean embedding computes the
    # stored group (two independent noise draws on the same clean vector land in the same group).
    attacker_hit_rate: float


@dataclass(frozen=True)
class SensorFigures:
    """What the sensor's own code measured; produced by ``sensors.audit_grouping``."""

    grouping: list[GroupingMeasurement]
    noise: NoiseMeasurement | None
    embedding: str  # which embedding was measured (built-in descriptor or an operator model)


def sensor_figures_from_dict(data: dict[str, Any]) -> SensorFigures:
    """The inverse of ``dataclasses.asdict`` for SensorFigures (as stored in a report's JSON inputs)."""

    def grouping(item: dict[str, Any]) -> GroupingMeasurement:
        return GroupingMeasurement(
            **{k: v for k, v in item.items() if k not in ("p_same", "p_diff")},
            p_same=Interval(**item["p_same"]),
            p_diff=Interval(**item["p_diff"]),
        )

    noise = data.get("noise")
    return SensorFigures(
        grouping=[grouping(item) for item in data["grouping"]],
        noise=NoiseMeasurement(**noise) if noise else None,
        embedding=data["embedding"],
    )
