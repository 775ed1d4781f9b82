"""The audit on generated good data: every guarantee that can be measured passes, and the report renders."""

import json
import subprocess
import sys

from individ.audit import GUARANTEE_IDS, Status, failed_guarantees, render_html, report_json, write_report
from individ.contract import LandingZone, Stream
from tests.audit.conftest import AuditedSite

SECTIONS = ("grouping", "noise", "groups", "inference", "linkage", "deletion", "keys")


def test_good_data_passes(good_site: AuditedSite) -> None:
    assert failed_guarantees(good_site.report) == []
    measured = {g.id for g in good_site.report.guarantees() if g.status is Status.PASS}
    # Everything the stored data can show is measured (grouping/noise need the sensor, the warehouse is absent).
    assert {
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
        "keys.rotation",
        "keys.no_key_material_stored",
        "keys.key_file_apart",
        "noise.configured",
    } <= measured


def test_every_declared_guarantee_is_reported_once(good_site: AuditedSite) -> None:
    assert tuple(g.id for g in good_site.report.guarantees()) == GUARANTEE_IDS
    assert all("." not in g.slug for g in good_site.report.guarantees())


def test_figures_describe_the_generated_site(good_site: AuditedSite) -> None:
    groups = good_site.report.section("groups").figures
    # The plan's floor at min_members 3: no cell below 2, and cells at 2 hold fictitious persons only.
    assert groups["fictitious_floor"] == 2
    assert groups["members_min"] >= 2 and groups["cells_below_floor"] == 0
    assert 0 < groups["cells_at_floor_share"] < 1
    assert 0.1 < groups["fictitious_share"] < 0.8
    linkage = good_site.report.section("linkage").figures
    assert 0 <= linkage["pooled_confidence"] < 0.1


def test_report_renders_every_section(good_site: AuditedSite, tmp_path) -> None:
    html = render_html(good_site.report, good_site.config)
    for section in (*SECTIONS, "legal", "guarantees"):
        assert f'id="{section}"' in html
    assert "biometric categorisation" in html and "Regulation (EU) 2024/1689" in html
    assert "<script" not in html and "http" not in html.split("</style>")[0]  # self-contained
    data = json.loads(report_json(good_site.report, good_site.config))
    assert [s["id"] for s in data["sections"]] == list(SECTIONS)
    assert data["summary"]["fail"] == 0
    for section in data["sections"]:
        for guarantee in section["guarantees"]:
            assert guarantee["status"] in ("pass", "fail", "not_measured")
            assert "threshold" in guarantee and "value" in guarantee
    html_path, json_path = write_report(good_site.report, good_site.config, tmp_path / "out")
    assert html_path.read_text(encoding="utf-8") == html
    assert json.loads(json_path.read_text(encoding="utf-8"))["site_id"] == "test-mall"


def test_audit_changes_nothing_in_the_landing_zone(good_site: AuditedSite) -> None:
    landing = LandingZone(good_site.data / "landing")
    assert landing.quarantined() == []
    assert all(landing.segments(stream) for stream in Stream)


def test_audit_package_loads_no_vision_or_orchestration() -> None:
    code = (
        "import sys, individ.audit, individ.audit.cli\n"
        "bad = [m for m in ('cv2', 'onnxruntime', 'dagster', 'sensors') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
