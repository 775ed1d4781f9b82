"""Smaller parts of the audit: partial hours, file sniffing, the command line."""

import argparse
import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from individ.audit.cli import parse_period, register
from individ.audit.groups import measure_groups
from individ.audit.model import Status
from individ.audit.scan import entropy_bits, looks_like_key_text, sniff
from tests.audit.sitegen import START, generate, site_config


def test_a_partial_camera_hour_with_part_of_its_plan_is_judged_and_fails() -> None:
    """Four minutes holding four minutes' worth of the plan: what the sensor emitted before it spread the
    whole plan over the covered part of an hour, and what a crash leaves. The hour is judged, not exempted."""
    minutes = [START + dt.timedelta(minutes=m) for m in range(4)]
    heartbeats = pl.DataFrame(
        {
            "camera_id": ["entrance"] * 4,
            "minute_start": minutes,
            "occurrences_emitted": [1] * 4,
            "fictitious_emitted": [45] * 4,
            "fictitious_plan_per_group": [2.8] * 4,
        }
    )
    occurrences = pl.DataFrame(
        {"camera_id": ["entrance"] * 184, "observed_at": [minutes[0]] * 184, "group_id": list(range(184))}
    )
    section = measure_groups(site_config(), occurrences, heartbeats, now=START + dt.timedelta(days=1))
    statuses = {g.id: g.status for g in section.guarantees}
    assert statuses["groups.cells_below_min"] is Status.FAIL
    assert statuses["groups.fictitious_follow_plan"] is Status.FAIL
    assert section.figures["camera_hours"] == 1 and section.figures["interrupted_camera_hours"] == 1


def test_sniffing() -> None:
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image (JPEG)"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image (WebP)"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video (MP4/MOV)"
    assert sniff(b"PAR1\x15\x04") is None
    assert looks_like_key_text(b"ab" * 32 + b"\n") and not looks_like_key_text(b"camera,group\nnorth,12\n")
    assert entropy_bits(bytes(range(256)) * 4) == 8.0 and entropy_bits(b"aaaa") == 0.0


def test_period() -> None:
    start, end = parse_period("2026-11-02", "2026-11-03")
    assert (start, end) == (dt.datetime(2026, 11, 2, tzinfo=dt.UTC), dt.datetime(2026, 11, 4, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="empty"):
        parse_period("2026-11-03", "2026-11-02")


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = site_config()
    config_path = tmp_path / "site.yaml"
    config_path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")  # JSON is YAML
    generate(tmp_path / "data" / "landing", config, hours=1)
    parser = argparse.ArgumentParser(prog="individ")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "audit",
            "--config",
            str(config_path),
            "--data",
            str(tmp_path / "data"),
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-02",
            "--no-sensor",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert args.handler(args) == 0
    assert "0 fail" in capsys.readouterr().out
    written = sorted(p.suffix for p in (tmp_path / "out").iterdir())
    assert written == [".html", ".json"]


def test_command_line_exit_code_on_failure(tmp_path: Path) -> None:
    config = site_config(noise_sigma=0.0)
    config_path = tmp_path / "site.yaml"
    config_path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
    generate(tmp_path / "data" / "landing", config, hours=1)
    parser = argparse.ArgumentParser(prog="individ")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "audit",
            "--config",
            str(config_path),
            "--data",
            str(tmp_path / "data"),
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-02",
            "--no-sensor",
        ]
    )
    assert args.handler(args) == 1
