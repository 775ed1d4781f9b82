"""The key epoch changes at the configured hour of the site's winter time: same-length epochs, also on DST days."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest

from individ.site_config import PrivacyParameters
from sensors.privacy.keys import EpochKeys, SiteSecret

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
SECRET = SiteSecret(bytes(32))


def keys(zone: str, hour: int = 4, rotation_hours: int = 24) -> EpochKeys:
    return EpochKeys(SECRET, rotation_hours, zoneinfo.ZoneInfo(zone), hour)


def boundaries(epoch_keys: EpochKeys, start: dt.datetime, days: int, step: int = 60) -> list[dt.datetime]:
    """Every instant (to ``step`` seconds) at which the epoch number changes, scanning ``days`` from ``start``."""
    changes = []
    t = int(start.timestamp())
    previous = epoch_keys.epoch_at(t)
    for offset in range(step, days * 86_400 + 1, step):
        epoch = epoch_keys.epoch_at(t + offset)
        assert epoch >= previous, "the epoch number went backwards"
        if epoch != previous:
            assert epoch == previous + 1
            changes.append(dt.datetime.fromtimestamp(t + offset, dt.UTC))
        previous = epoch
    return changes


def test_default_is_four_in_the_morning_local() -> None:
    assert PrivacyParameters().key_rotation_local_hour == 4


@pytest.mark.parametrize(
    ("day", "local_boundary"),
    [
        (dt.date(2026, 1, 15), dt.datetime(2026, 1, 15, 4, 0, tzinfo=PARIS)),  # winter: CET, 03:00 UTC
        (dt.date(2026, 7, 15), dt.datetime(2026, 7, 15, 5, 0, tzinfo=PARIS)),  # summer: CEST, still 03:00 UTC
        (dt.date(2026, 3, 29), dt.datetime(2026, 3, 29, 5, 0, tzinfo=PARIS)),  # spring forward at 02:00 -> 03:00
        (dt.date(2026, 10, 25), dt.datetime(2026, 10, 25, 4, 0, tzinfo=PARIS)),  # fall back at 03:00 -> 02:00
    ],
)
def test_paris_boundary_in_winter_summer_and_on_both_clock_change_days(
    day: dt.date, local_boundary: dt.datetime
) -> None:
    paris = keys("Europe/Paris")
    start = dt.datetime.combine(day, dt.time(0, 0), PARIS)
    (change,) = boundaries(paris, start, 1)
    assert change == local_boundary.astimezone(dt.UTC)
    assert change.hour == 3  # the same UTC instant every day of the year: every epoch is exactly 24 h
    epoch = paris.epoch_at(change.timestamp())
    assert paris.epoch_at(change.timestamp() - 1) == epoch - 1
    assert paris.epoch_at(change.timestamp() + 86_400 - 1) == epoch


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Sydney", "Europe/Dublin"])
def test_over_a_year_the_key_changes_once_a_day_at_the_hour_or_one_later_never_earlier(zone: str) -> None:
    epoch_keys = keys(zone, hour=4)
    tz = zoneinfo.ZoneInfo(zone)
    changes = boundaries(epoch_keys, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 365, step=3600)
    assert len(changes) == 365
    assert {b - a for a, b in itertools.pairwise(changes)} == {dt.timedelta(days=1)}
    local_hours = {change.astimezone(tz).hour for change in changes}
    assert local_hours == {4, 5}  # 04:00 in winter, 05:00 while summer time is in force
    winter = (
        dt.datetime(2026, 1, 20, 12, tzinfo=tz) if zone != "Australia/Sydney" else dt.datetime(2026, 7, 20, tzinfo=tz)
    )
    (winter_change,) = boundaries(epoch_keys, winter, 1)
    assert winter_change.astimezone(tz).hour == 4


def test_other_periods_and_the_utc_midnight_rule() -> None:
    utc = EpochKeys(SECRET, 24)
    assert utc.epoch_at(86_399.9) == 0 and utc.epoch_at(86_400) == 1  # UTC, hour 0: floor(t / period)
    six_hourly = keys("Europe/Paris", hour=4, rotation_hours=6)
    changes = boundaries(six_hourly, dt.datetime(2026, 1, 15, tzinfo=PARIS), 1)
    assert [c.astimezone(PARIS).hour for c in changes] == [4, 10, 16, 22]
    with pytest.raises(ValueError, match=r"0\.\.23"):
        EpochKeys(SECRET, 24, PARIS, 24)
    assert "Europe/Paris" in repr(six_hourly) and "rotation_hour=4" in repr(six_hourly)
