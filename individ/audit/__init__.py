"""The privacy audit: every anonymity claim of the product backed by a number (see issue 6).

``run_audit(...) -> AuditReport`` measures; ``failed_guarantees(report)`` lists what broke;
``write_report(report, folder)`` writes the self-contained HTML and the JSON. The package never imports
OpenCV, onnxruntime or Dagster; the measurements that need the sensor's code live in
``sensors.audit_grouping``.
"""

from individ.audit.audit import run_audit
from individ.audit.model import (
    GUARANTEE_IDS,
    AuditReport,
    Guarantee,
    Section,
    SensorFigures,
    Status,
    failed_guarantees,
)
from individ.audit.report import latest_sensor_figures, render_html, report_json, write_report

__all__ = [
    "GUARANTEE_IDS",
    "AuditReport",
    "Guarantee",
    "Section",
    "SensorFigures",
    "Status",
    "failed_guarantees",
    "latest_sensor_figures",
    "render_html",
    "report_json",
    "run_audit",
    "write_report",
]
