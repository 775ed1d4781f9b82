"""The sensor: section of the site YAML: defaults, relative paths, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from individ.site_config import ConfigError
from sensors.settings import SHIPPED_MODELS_DIR, DetectorKind, load_sensor_config

from .conftest import site_dict, write_site


def test_defaults_point_at_the_shipped_models(tmp_path: Path) -> None:
    config = load_sensor_config(write_site(tmp_path / "site.yaml", site_dict({"cam-a": "clip.mp4"}, tmp_path)))
    settings = config.settings
    assert settings.detector.kind is DetectorKind.SSDLITE
    assert settings.tracking.max_feature_age_seconds == 2.0
    assert settings.health.host == "127.0.0.1"
    assert settings.models.resolved().person_detector == SHIPPED_MODELS_DIR / "person_detector_ssdlite.onnx"
    assert config.resolve_path("clip.mp4") == tmp_path / "clip.mp4"


@pytest.mark.parametrize(
    ("sensor", "expected"),
    [
        ({"detector": {"kind": "rcnn"}}, "sensor.detector.kind"),
        ({"detector": {"confidence_threshold": 1.5}}, "sensor.detector.confidence_threshold"),
        ({"tracking": {"max_feature_age_seconds": 10}}, "sensor.tracking.max_feature_age_seconds"),
        ({"tracking": {"demographics_per_frame": 0}}, "sensor.tracking.demographics_per_frame"),
        ({"health": {"port": 70000}}, "sensor.health.port"),
        ({"onnx_provider": "tpu"}, "sensor.onnx_provider"),
        ({"reconnect": {"initial_seconds": 30, "max_seconds": 5}}, "raise max_seconds"),
        ({"file_start_time": "2026-01-01T09:00:00"}, "no time zone"),
        ({"detectr": {}}, "sensor.detectr: unknown field: remove it or check its spelling"),
        ({"emission": {"release_hold_seconds": 10}}, "sensor.emission.release_hold_seconds"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, sensor: dict, expected: str) -> None:
    path = write_site(tmp_path / "site.yaml", site_dict({"cam-a": "clip.mp4"}, tmp_path, sensor=sensor))
    with pytest.raises(ConfigError) as error:
        load_sensor_config(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_events_must_reach_the_landing_zone_before_the_analytics_finalise_their_hour(tmp_path: Path) -> None:
    site = site_dict({"cam-a": "clip.mp4"}, tmp_path, sensor={"emission": {"release_hold_seconds": 240}})
    site["flows"] = {"lateness_minutes": 5}  # 240 s hold + 60 s flush = the 5 minutes: still in time
    load_sensor_config(write_site(tmp_path / "site.yaml", site))
    site["flows"] = {"lateness_minutes": 4}
    with pytest.raises(
        ConfigError, match=r"up to 300 s after their time .* later than flows.lateness_minutes \(4 min\)"
    ):
        load_sensor_config(write_site(tmp_path / "site.yaml", site))


def test_the_cli_prints_the_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import individ.cli

    if "sensors.cli" not in individ.cli.COMMAND_MODULES:  # until the lead registers it
        monkeypatch.setattr(individ.cli, "COMMAND_MODULES", (*individ.cli.COMMAND_MODULES, "sensors.cli"))
    path = write_site(tmp_path / "site.yaml", site_dict({"cam-a": "x.mp4"}, tmp_path, sensor={"tracking": {"x": 1}}))
    assert individ.cli.main(["sensor", "run", "--config", str(path)]) == 2
    assert "sensor.tracking.x: unknown field" in capsys.readouterr().err


def test_check_config_reports_missing_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from sensors.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    path = write_site(tmp_path / "site.yaml", site_dict({"cam-a": "missing.mp4"}, tmp_path))
    args = parser.parse_args(["sensor", "check-config", "--config", str(path)])
    assert args.handler(args) == 1
    assert "cam-a: source missing.mp4 not found" in capsys.readouterr().err
