"""Report partitions: a period (local day or ISO week of the site) x a scope (the whole site or one store)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from individ.site_config import SiteConfig

SITE_SCOPE = "site"
PERIOD = "period"
SCOPE = "scope"


@dataclass(frozen=True)
class ReportPartitions:
    daily: dg.MultiPartitionsDefinition
    weekly: dg.MultiPartitionsDefinition
    scopes: tuple[str, ...]
    timezone: str


def report_partitions(partitions_start: str, config: SiteConfig) -> ReportPartitions:
    """Days and Monday-started weeks, for the site and each of its stores.

    A report covers the site-local calendar day (or week) named by its key. The partitions themselves
    are laid out in UTC like the hourly ones, because Dagster maps time partitions only within one
    time zone: the lineage from a report to its hours is therefore off by the site's UTC offset.
    """
    store_ids = [store.id for store in config.stores]
    if SITE_SCOPE in store_ids:
        raise ValueError(f"a store cannot be called {SITE_SCOPE!r}: that name is the whole-site report")
    scopes = (SITE_SCOPE, *store_ids)
    start = partitions_start.split("-", 3)
    start_date = "-".join(start[:3])
    scope_partitions = dg.StaticPartitionsDefinition(list(scopes))
    daily = dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC")
    weekly = dg.WeeklyPartitionsDefinition(start_date=start_date, timezone="UTC", day_offset=1)
    return ReportPartitions(
        daily=dg.MultiPartitionsDefinition({PERIOD: daily, SCOPE: scope_partitions}),
        weekly=dg.MultiPartitionsDefinition({PERIOD: weekly, SCOPE: scope_partitions}),
        scopes=scopes,
        timezone=config.site.timezone,
    )
