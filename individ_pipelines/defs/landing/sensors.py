"""The landing-zone sensor: new segments -> runs for the hours they change, once each.

A segment in hour h changes hour h and the hours whose lookahead reaches into h (flows pair passes
up to 30 minutes apart, store visits up to the dbt var visit_max_lag_minutes: h-3..h for 180). So the
segments feeding hour h are those of every stream in the hour folders h..h+lookahead.

The cursor keeps, per hour, the fingerprint of that set when the hour was last requested (its size and
a 16-byte hash of the sorted ids), not the ids: Dagster stores the cursor with every tick, and a
fingerprint is 40 bytes whether one segment feeds the hour or a few hundred (the ids of a week of
per-minute segments were megabytes). An hour is requested again only when its fingerprint changes: a
late segment, or one quarantined or removed; a segment delivered again has the same id, so the same
set. A run's key is derived from its hour range and, per hour, the fingerprint it had and the one it
has, so a re-evaluated tick never launches the same work twice while a late segment does re-run the
hours it changes.

An hour is requested only once it is final: events up to its end plus the flow lag have arrived
(the landing zone's watermark, from the latest heartbeats) or its end plus the configured
lateness has passed on the wall clock. Contiguous ready hours go out as one partition-range run
(one ingestion step and one dbt invocation).

A tick lists what can still change a fingerprint, not the whole history: hour folders from the
cursor's horizon on (segments older than the retention are ignored anyway). On a file system, a
folder's modification time changes whenever a segment lands in it (or is replaced or quarantined);
once every hour an hour's folders feed is up to date, the cursor keeps a digest of those folders'
times and later ticks skip the hour until one changes, so a late segment in an old hour is still
seen. A fingerprint is never computed from a partial listing: when hour h's folders changed, the
hours h-lookahead..h are fingerprinted again from all their folders (h-lookahead..h+lookahead, every
stream). Object stores have no folder times: there every folder from the horizon on is listed, one
request per day, a cost bounded by the retention.
"""

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from individ.contract import HourFolder, LandingZone, Segment, Stream
from individ_pipelines.defs.analytics.project import longest_lag_minutes
from individ_pipelines.defs.landing.partitions import HOUR, hour_of_key, lookahead_hours, partition_key
from individ_pipelines.resources import LandingZoneResource, SiteResource

# Hours this much older than the newest segment are forgotten; a segment that late needs a manual backfill.
RETENTION = dt.timedelta(days=7)
# One run covers at most this many contiguous hours.
MAX_HOURS_PER_RUN = 24
# A folder changed this recently is listed again on the next tick even if nothing is pending: a second
# segment landing within the file system's timestamp granularity, or stamped by a writer whose clock
# lags ours, could leave the folder's time unchanged.
SETTLE_MARGIN = dt.timedelta(minutes=2)
CURSOR_VERSION = 2


def fingerprint(segment_ids: Iterable[str]) -> str:
    """The size and a 16-byte hash of a set of segment ids: the same set gives the same fingerprint."""
    ids = sorted(set(segment_ids))
    digest = hashlib.blake2b("\n".join(ids).encode(), digest_size=16).hexdigest()
    return f"{len(ids)}:{digest}"


# An hour the cursor has no fingerprint for: nothing fed it when last requested, or it never was.
NO_SEGMENTS = fingerprint(())


def folders_by_hour(folders: Iterable[HourFolder]) -> dict[dt.datetime, list[HourFolder]]:
    """The folders of each hour, every stream's together (an hour settles or changes as a whole)."""
    by_hour: dict[dt.datetime, list[HourFolder]] = defaultdict(list)
    for folder in folders:
        by_hour[folder.hour].append(folder)
    return by_hour


def folder_times(folders: Iterable[HourFolder]) -> str:
    """A digest of the modification times of one hour's folders (every stream): it changes when any does."""
    times = sorted(f"{folder.stream.value}={folder.modified_ns}" for folder in folders)
    return hashlib.blake2b("\n".join(times).encode(), digest_size=8).hexdigest()


@dataclass
class SensorCursor:
    """What the sensor keeps between ticks, by hour key from the retention ``horizon`` on: ``requested``,
    the fingerprint of the segments feeding the hour when it was last requested; ``settled``, the digest
    of the hour's folder times once every hour those folders feed was up to date (skipped until it changes).
    """

    horizon: dt.datetime | None = None
    requested: dict[str, str] = field(default_factory=dict)
    settled: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, log: logging.Logger | None = None) -> "SensorCursor":
        """Read a cursor of this version, or convert one of version 1 (which ``log`` is told about)."""
        if not text:
            return cls()
        data = json.loads(text)
        horizon = dt.datetime.fromisoformat(data["horizon"]) if data.get("horizon") else None
        if data.get("version") == CURSOR_VERSION:
            return cls(horizon, dict(data["requested"]), dict(data["settled"]))
        if "version" not in data and "requested" in data:
            cursor = cls._from_version_1(horizon, data["requested"], data.get("settled", {}))
            if log is not None:
                log.info(
                    "landing sensor: converted a version 1 cursor (segment ids per hour, %d hours) to fingerprints",
                    len(cursor.requested),
                )
            return cursor
        raise ValueError(
            f"landing sensor cursor of unknown version {data.get('version')!r} (this code reads {CURSOR_VERSION}"
            " and 1); reset it with `dagster sensor cursor landing_zone_sensor --delete`, which re-requests"
            " the hours of the retention window"
        )

    @classmethod
    def _from_version_1(
        cls, horizon: dt.datetime | None, requested: dict[str, list[str]], settled: dict[str, int]
    ) -> "SensorCursor":
        """Version 1 kept the ids that triggered each hour: their fingerprint is exactly what this version
        keeps, so nothing is requested again. Its settled times were per stream folder; they become per-hour
        digests, which match an hour's folders only if all of them were settled (else the hour is listed)."""
        folders: dict[str, list[HourFolder]] = defaultdict(list)
        for key, modified_ns in settled.items():
            stream, hour = key.split("/", 1)
            folders[hour].append(HourFolder(Stream(stream), hour_of_key(hour), modified_ns))
        return cls(
            horizon,
            {hour: fingerprint(ids) for hour, ids in requested.items()},
            {hour: folder_times(found) for hour, found in folders.items()},
        )

    def serialize(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "horizon": self.horizon.isoformat() if self.horizon else None,
                "requested": dict(sorted(self.requested.items())),
                "settled": dict(sorted(self.settled.items())),
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class HourRangeRequest:
    """A run for the contiguous hours [first, last], each changed from one fingerprint to another."""

    first: dt.datetime
    last: dt.datetime
    changes: tuple[str, ...]  # per hour: "<hour key> <fingerprint before>><fingerprint now>"

    @property
    def run_key(self) -> str:
        # The fingerprint before is part of the key: a set that returns to an earlier state (a segment
        # added, then quarantined) is a new change, not the run that state once had.
        digest = hashlib.sha256("\n".join(self.changes).encode()).hexdigest()[:16]
        return f"{partition_key(self.first)}..{partition_key(self.last)}:{digest}"

    def run_request(self) -> dg.RunRequest:
        if self.first == self.last:
            return dg.RunRequest(run_key=self.run_key, partition_key=partition_key(self.first))
        return dg.RunRequest(
            run_key=self.run_key,
            tags={
                "dagster/asset_partition_range_start": partition_key(self.first),
                "dagster/asset_partition_range_end": partition_key(self.last),
            },
        )


def plan_runs(
    segments: Iterable[Segment],
    cursor: SensorCursor,
    *,
    now: dt.datetime,
    watermark: dt.datetime | None,
    max_lag_minutes: int,
    reach_minutes: int,
    lateness_minutes: int,
    first_hour: dt.datetime,
    newest_hour: dt.datetime | None = None,
    hours: Collection[dt.datetime] | None = None,
) -> tuple[list[HourRangeRequest], SensorCursor]:
    """The runs to request now and the cursor after requesting them (pure: no I/O).

    ``max_lag_minutes`` decides when an hour is final; ``reach_minutes`` (the longest lag any model
    pairs passes over) how many earlier hours a segment changes. ``hours`` are the hours to plan, whose
    feeding segments must all be in ``segments`` (default: every hour ``segments`` feed, which must then
    be every segment from the horizon on); ``newest_hour`` is the landing zone's newest hour when
    ``segments`` are not all of them (default: the newest of ``segments``).
    """
    segments = list(segments)
    newest = newest_hour or max((segment.hour for segment in segments), default=None)
    horizon = retention_horizon(cursor, newest, first_hour)
    if hours is None:
        hours = {hour for segment in segments for hour in hours_changed_by(segment.hour, reach_minutes, horizon)}
    current = hour_fingerprints(segments, [hour for hour in hours if hour >= horizon], reach_minutes, horizon)
    before = {hour: cursor.requested.get(partition_key(hour), NO_SEGMENTS) for hour in current}

    def is_final(hour: dt.datetime) -> bool:
        complete_at = hour + HOUR + dt.timedelta(minutes=max_lag_minutes)
        arrived = watermark is not None and watermark >= complete_at
        return arrived or now >= hour + HOUR + dt.timedelta(minutes=lateness_minutes)

    ready = sorted(hour for hour in current if current[hour] != before[hour] and is_final(hour))
    requests: list[HourRangeRequest] = []
    run: list[dt.datetime] = []
    for hour in ready:
        if run and (hour - run[-1] != HOUR or len(run) == MAX_HOURS_PER_RUN):
            requests.append(_request(run, before, current))
            run = []
        run.append(hour)
    if run:
        requests.append(_request(run, before, current))

    oldest = partition_key(horizon)
    requested = {key: value for key, value in cursor.requested.items() if key >= oldest}
    requested.update({partition_key(hour): current[hour] for hour in ready})
    return requests, SensorCursor(horizon, requested, cursor.settled)


def _request(hours: list[dt.datetime], before: dict[dt.datetime, str], now: dict[dt.datetime, str]) -> HourRangeRequest:
    changes = tuple(f"{partition_key(hour)} {before[hour]}>{now[hour]}" for hour in hours)
    return HourRangeRequest(hours[0], hours[-1], changes)


def hour_fingerprints(
    segments: Iterable[Segment], hours: Iterable[dt.datetime], reach_minutes: int, horizon: dt.datetime
) -> dict[dt.datetime, str]:
    """The fingerprint of the segments feeding each of ``hours`` (whose feeding folders ``segments`` must
    hold entirely)."""
    feeding: dict[dt.datetime, set[str]] = {hour: set() for hour in hours}
    for segment in segments:
        for hour in hours_changed_by(segment.hour, reach_minutes, horizon):
            if hour in feeding:
                feeding[hour].add(segment.segment_id)
    return {hour: fingerprint(ids) for hour, ids in feeding.items()}


def retention_horizon(cursor: SensorCursor, newest: dt.datetime | None, first_hour: dt.datetime) -> dt.datetime:
    """The oldest hour a new segment may still trigger (it never moves back)."""
    return max(filter(None, (cursor.horizon, newest - RETENTION if newest else None, first_hour)))


def hours_changed_by(hour: dt.datetime, reach_minutes: int, horizon: dt.datetime) -> list[dt.datetime]:
    """The hours a segment of ``hour`` changes: its own and the earlier hours whose lookahead reaches into
    it, from the horizon on."""
    hours = (hour - back * HOUR for back in range(lookahead_hours(reach_minutes) + 1))
    return [earlier for earlier in hours if earlier >= horizon]


@dataclass(frozen=True)
class Listing:
    """What one tick listed: the segments to plan from, the hours they feed entirely, and the folders
    of the hours found changed (to settle)."""

    segments: list[Segment]
    hours: list[dt.datetime]  # every folder feeding these hours was listed: their fingerprints are whole
    folders: list[HourFolder]  # every folder of the changed hours (file systems); empty on object stores
    newest_hour: dt.datetime | None


def list_candidates(zone: LandingZone, cursor: SensorCursor, first_hour: dt.datetime, *, reach_minutes: int) -> Listing:
    """The segments that may change a fingerprint: on a file system, those of the hours whose folder
    times changed since they settled, and of every folder feeding the hours those change; on an object
    store, every segment from the horizon on. The two newest heartbeat hours are always read (the
    watermark)."""
    since = max(filter(None, (cursor.horizon, first_hour)))
    folders = [folder for stream in Stream for folder in zone.hour_folders(stream, since=since)]
    newest = max((folder.hour for folder in folders), default=None)
    horizon = retention_horizon(cursor, newest, first_hour)
    folders = [folder for folder in folders if folder.hour >= horizon]
    if any(folder.modified_ns is None for folder in folders):
        everything = [segment for stream in Stream for segment in zone.segments(stream, since=horizon)]
        fed = {hour for folder in folders for hour in hours_changed_by(folder.hour, reach_minutes, horizon)}
        return Listing(everything, sorted(fed), [], newest)

    by_hour = folders_by_hour(folders)
    changed = [
        hour for hour, found in by_hour.items() if cursor.settled.get(partition_key(hour)) != folder_times(found)
    ]
    hours = sorted({fed for hour in changed for fed in hours_changed_by(hour, reach_minutes, horizon)})
    lookahead = lookahead_hours(reach_minutes)
    feeding = {hour + ahead * HOUR for hour in hours for ahead in range(lookahead + 1)}
    heartbeat_hours = sorted(folder.hour for folder in folders if folder.stream is Stream.HEARTBEATS)
    watermark_hours = set(heartbeat_hours[-2:])
    segments: list[Segment] = []
    for stream in Stream:
        wanted = feeding | watermark_hours if stream is Stream.HEARTBEATS else feeding
        listed = [folder.hour for folder in folders if folder.stream is stream and folder.hour in wanted]
        segments += zone.segments(stream, hours=listed)
    return Listing(segments, hours, [folder for hour in changed for folder in by_hour[hour]], newest)


def settle_folders(
    cursor: SensorCursor, listing: Listing, *, listed_at: dt.datetime, reach_minutes: int
) -> SensorCursor:
    """The cursor with the changed hours settled whose folders are quiet and feed only up-to-date hours
    (skipped until a folder time changes); settled marks older than the horizon are dropped."""
    horizon = cursor.horizon
    if horizon is None:  # nothing planned yet
        return cursor
    current = hour_fingerprints(listing.segments, listing.hours, reach_minutes, horizon)

    def up_to_date(hour: dt.datetime) -> bool:
        return cursor.requested.get(partition_key(hour), NO_SEGMENTS) == current[hour]

    quiet_before = int((listed_at - SETTLE_MARGIN).timestamp()) * 1_000_000_000
    by_hour = folders_by_hour(listing.folders)
    oldest = partition_key(horizon)
    settled = {key: times for key, times in cursor.settled.items() if key >= oldest}
    for hour, found in by_hour.items():
        settled.pop(partition_key(hour), None)
        quiet = all(folder.modified_ns is not None and folder.modified_ns < quiet_before for folder in found)
        if quiet and all(up_to_date(fed) for fed in hours_changed_by(hour, reach_minutes, horizon)):
            settled[partition_key(hour)] = folder_times(found)
    return SensorCursor(horizon, cursor.requested, settled)


def landing_watermark(zone: LandingZone, segments: list[Segment]) -> dt.datetime | None:
    """End of the latest heartbeat minute of the slowest sensor: events before it have arrived."""
    heartbeats = [segment for segment in segments if segment.stream is Stream.HEARTBEATS]
    if not heartbeats:
        return None
    latest_hour = max(segment.hour for segment in heartbeats)
    # A sensor silent in the latest hour holds the watermark back at its own last minute.
    latest_per_sensor: dict[str, dt.datetime] = {}
    for segment in heartbeats:
        if segment.hour < latest_hour - HOUR:
            continue
        with zone.filesystem.open_input_file(segment.path) as handle:
            table = pq.read_table(handle, columns=["sensor_id", "minute_start"])
        if table.num_rows == 0:
            continue
        minute = pc.max(table.column("minute_start")).as_py()
        sensor_id = table.column("sensor_id")[0].as_py()
        latest_per_sensor[sensor_id] = max(minute, latest_per_sensor.get(sensor_id, minute))
    if not latest_per_sensor:
        return None
    return min(latest_per_sensor.values()) + dt.timedelta(minutes=1)


def build_landing_sensor(job_name: str, first_hour: dt.datetime) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_zone_sensor",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests hourly runs for the hours that received new landing-zone segments, once final.",
    )
    def landing_zone_sensor(
        context: dg.SensorEvaluationContext, site: SiteResource, landing_zone: LandingZoneResource
    ) -> dg.SensorResult:
        zone = landing_zone.zone
        now = dt.datetime.now(dt.UTC)
        cursor = SensorCursor.parse(context.cursor, context.log)
        flows = site.config.flows
        reach_minutes = longest_lag_minutes(flows.max_lag_minutes)
        listing = list_candidates(zone, cursor, first_hour, reach_minutes=reach_minutes)
        requests, cursor = plan_runs(
            listing.segments,
            cursor,
            now=now,
            watermark=landing_watermark(zone, listing.segments),
            max_lag_minutes=flows.max_lag_minutes,
            reach_minutes=reach_minutes,
            lateness_minutes=flows.lateness_minutes,
            first_hour=first_hour,
            newest_hour=listing.newest_hour,
            hours=listing.hours,
        )
        cursor = settle_folders(cursor, listing, listed_at=now, reach_minutes=reach_minutes)
        if not requests:
            return dg.SensorResult(skip_reason="no final hour with new segments", cursor=cursor.serialize())
        return dg.SensorResult(run_requests=[r.run_request() for r in requests], cursor=cursor.serialize())

    return landing_zone_sensor
