"""The sensor service cannot leave its memory in a core dump: checked in the process ``individ sensor run`` starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, site_dict, write_site

# Runs the real command handler with the service replaced by a probe that reports the process's own state
# from where the service would run: after the configuration is read, before any frame is.
PROBE = """
import argparse, ctypes, resource, sys
import sensors.service

class Probe:
    def request_stop(self):
        pass

    def run(self, max_seconds):
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
        print(soft, hard, dumpable)
        return 0

sensors.service.create_service = lambda config, data: Probe()
from sensors.cli import _run
sys.exit(_run(argparse.Namespace(config=sys.argv[1], data=None, max_seconds=None)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_DUMPABLE) is Linux only")
def test_the_sensor_process_writes_no_core_dump_and_is_not_dumpable(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site.yaml", site_dict({"cam-a": str(tmp_path / "clip.mp4")}, tmp_path / "landing"))
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(site)], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["0", "0", "0"]  # core-file limit 0, soft and hard; not dumpable
    assert "core dumps disabled" in run.stderr
