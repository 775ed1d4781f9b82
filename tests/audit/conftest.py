import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from individ.audit import AuditReport, run_audit
from individ.site_config import SiteConfig
from tests.audit.sitegen import START, Breakage, generate, site_config

GOOD = Breakage()
GOOD_HOURS = 8
GOOD_TRAFFIC = 2500.0  # entrance passes per hour: few fictitious, so attribute leaks would be visible


@dataclass(frozen=True)
class AuditedSite:
    config: SiteConfig
    data: Path
    report: AuditReport


def audit_generated(
    folder: Path,
    *,
    config: SiteConfig | None = None,
    hours: int = 3,
    traffic: float = 800.0,
    breakage: Breakage = GOOD,
    warehouse: Path | None = None,
) -> AuditedSite:
    config = config or site_config(traffic)
    generate(folder / "landing", config, hours=hours, breakage=breakage)
    return AuditedSite(config, folder, audit(config, folder, hours, warehouse))


def audit(config: SiteConfig, folder: Path, hours: int, warehouse: Path | None = None) -> AuditReport:
    return run_audit(
        config,
        landing_root=str(folder / "landing"),
        start=START,
        end=START + dt.timedelta(hours=hours),
        warehouse=warehouse,
        data_dir=folder,
        now=START + dt.timedelta(days=1),
    )


@pytest.fixture(scope="session")
def good_site(tmp_path_factory: pytest.TempPathFactory) -> AuditedSite:
    folder = tmp_path_factory.mktemp("good")
    return audit_generated(folder, hours=GOOD_HOURS, traffic=GOOD_TRAFFIC)
