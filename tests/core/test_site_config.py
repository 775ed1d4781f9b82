"""The site configuration: the shipped example is valid, and every error names the field and the fix."""

from pathlib import Path

import pytest
import yaml

from individ.cli import main
from individ.site_config import ConfigError, example_site_path, load_site_config, parse_site_config


def _demo() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(example_site_path().read_text())


def test_the_shipped_demo_mall_is_valid() -> None:
    config = load_site_config(example_site_path())
    roles = {camera.role for camera in config.cameras}
    assert {"entrance", "exit", "store_door_in", "store_door_out", "corridor"} == roles
    assert config.privacy.groups == 1000
    assert config.tz.key == "Europe/Paris"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["site"].update(timezone="Mars/Olympus"), "site.timezone: unknown time zone"),
        (lambda c: c["privacy"].update(groups=500), "privacy.groups: event contract v1 fixes the number of groups"),
        (lambda c: c["cameras"][0].update(role="door"), "cameras[0].role: Input should be 'entrance'"),
        (lambda c: c["cameras"][0].update(fps=5), "cameras[0].fps: unknown field: remove it"),
        (lambda c: c["cameras"][1].update(id=c["cameras"][0]["id"]), "duplicate ids"),
        (lambda c: c["cameras"][6].update(store="nowhere"), "cameras[6].store: unknown store 'nowhere'"),
        (lambda c: c["cameras"][6].pop("store"), "needs the id of its store"),
        (lambda c: c["cameras"][0].update(id="North Entrance"), "cameras[0].id: use 1-63 lowercase letters"),
        (lambda c: c["cameras"][0].update(expected_passes_per_hour=[1, 2]), "exactly 24 figures"),
        (lambda c: c["privacy"].update(demographics_window_minutes=25), "the window must divide the hour"),
        (lambda c: c["flows"].update(pairs=[["north-entrance", "mars"]]), "flows.pairs[0]: unknown camera 'mars'"),
        (lambda c: c.pop("site"), "site: required field is missing"),
        (
            lambda c: c["cameras"][0].update(counting_line={"start": {"x": 0.5, "y": 0}, "end": {"x": 0.5, "y": 0}}),
            "start and end are the same point",
        ),
        (
            lambda c: c["cameras"][0].update(fictitious_directions={"in": 0.8, "unknown": 0.1}),
            "cameras[0]: fictitious_directions: give shares of at least 0 that add up to 1",
        ),
        (
            lambda c: c["cameras"][0].update(fictitious_directions={"in": 0.8, "unknown": 0.2}),
            "without a counting_line every real pass is 'unknown'",
        ),
        (
            lambda c: c["cameras"][0].update(fictitious_directions={"sideways": 1.0}),
            "cameras[0].fictitious_directions.sideways",
        ),
    ],
)
def test_errors_name_the_field_and_the_fix(change, expected: str) -> None:  # type: ignore[no-untyped-def]
    config = _demo()
    change(config)
    with pytest.raises(ConfigError) as error:
        parse_site_config(config, "site.yaml")
    assert expected in str(error.value)
    assert str(error.value).startswith("invalid site configuration site.yaml:")


def test_unreadable_and_non_yaml_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read site configuration"):
        load_site_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("site: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_site_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_site_config(scalar)


def test_config_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check"]) == 0
    assert "valid site 'demo-mall' with 22 cameras, 8 stores" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    config = _demo()
    config["privacy"]["groups"] = 10
    bad.write_text(yaml.safe_dump(config))
    assert main(["config", "check", str(bad)]) == 2
    assert "privacy.groups" in capsys.readouterr().err
