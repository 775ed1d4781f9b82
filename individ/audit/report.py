"""Writing the audit: a self-contained HTML page (Jinja2, inline CSS, no external asset) and a JSON file."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import jinja2

from individ.audit.legal import legal_context
from individ.audit.model import AuditReport, SensorFigures, Status, sensor_figures_from_dict
from individ.site_config import SiteConfig

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("individ.audit", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python numbers, NaN and infinities to null."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def report_json(report: AuditReport, config: SiteConfig) -> str:
    data = _plain(report.to_json_dict())
    data["legal_context"] = [{"heading": h, "text": t} for h, t in legal_context(config)]
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def render_html(report: AuditReport, config: SiteConfig) -> str:
    template = _ENVIRONMENT.get_template("report.html.j2")
    summary = report.to_json_dict()["summary"]
    return template.render(
        report=report,
        summary=summary,
        legal=legal_context(config),
        config=config,
        number=_number,
        Status=Status,
        figures_json=lambda figures: json.dumps(_plain(figures), indent=1, ensure_ascii=False, default=str),
    )


def write_report(report: AuditReport, config: SiteConfig, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``audit-<site>-<start>-<end>.html`` and ``.json`` atomically; return both paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"audit-{report.site_id}-{report.period_start:%Y%m%dT%H}-{report.period_end:%Y%m%dT%H}"
    paths = []
    for suffix, text in ((".html", render_html(report, config)), (".json", report_json(report, config))):
        target = out / f"{stem}{suffix}"
        temporary = out / f".{stem}{suffix}.tmp"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
        paths.append(target)
    return paths[0], paths[1]


def latest_sensor_figures(folder: str | os.PathLike[str]) -> tuple[SensorFigures, str] | None:
    """The sensor measurements of the newest audit JSON in ``folder`` that has them, and when they were made.

    The grouping and noise figures need the sensor's code (OpenCV), which the pipelines must not load; a
    scheduled audit reuses the last ``individ audit`` run's measurement and says so.
    """
    newest: tuple[str, dict[str, Any]] | None = None
    for path in Path(folder).glob("audit-*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        figures = data.get("inputs", {}).get("sensor_figures")
        if figures and (newest is None or data["generated_at"] > newest[0]):
            newest = (data["generated_at"], figures)
    if newest is None:
        return None
    return sensor_figures_from_dict(newest[1]), f"measured by `individ audit` at {newest[0]}"
