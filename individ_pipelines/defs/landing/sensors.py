"""The landing-zone sensor: new segments -> runs for the hours they change, once each.

A segment in hour h changes hour h and the hours whose lookahead reaches into h (flows pair passes
up to 30 minutes apart, store visits up to the dbt var visit_max_lag_minutes: h-3..h for 180).
Each (hour, segment) pair triggers at most one run: the cursor remembers the pairs
already requested, and a run's key is derived from the hour range and the segment ids behind it,
so a re-evaluated tick never launches the same work twice while a late segment does re-run the
hours it changes.

An hour is requested only once it is final: events up to its end plus the flow lag have arrived
(the landing zone's watermark, from the latest heartbeats) or its end plus the configured
lateness has passed on the wall clock. Contiguous ready hours go out as one partition-range run
(one ingestion step and one dbt invocation).

A tick lists what can still trigger a run, not the whole history: hour folders from the cursor's
horizon on (segments older than the retention are ignored anyway). On a file system, a folder's
modification time changes whenever a segment lands in it (or is replaced or quarantined); once
every segment of a folder has been requested, the cursor keeps that time and later ticks skip the
folder until it changes, so a late segment in an old hour is still seen, by its folder's new time.
Object stores have no folder times: there every folder from the horizon on is listed, one request
per day, a cost bounded by the retention.
"""

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from individ.contract import HourFolder, LandingZone, Segment, Stream
from individ_pipelines.defs.analytics.project import longest_lag_minutes
from individ_pipelines.defs.landing.partitions import HOUR, lookahead_hours, partition_key
from individ_pipelines.resources import LandingZoneResource, SiteResource

# Pairs this much older than the newest segment are forgotten; a segment that late needs a manual backfill.
RETENTION = dt.timedelta(days=7)
# One run covers at most this many contiguous hours.
MAX_HOURS_PER_RUN = 24
# A folder changed this recently is listed again on the next tick even if nothing is pending: a second
# segment landing within the file system's timestamp granularity, or stamped by a writer whose clock
# lags ours, could leave the folder's time unchanged.
SETTLE_MARGIN = dt.timedelta(minutes=2)


@dataclass
class SensorCursor:
    """Which segments already triggered which hour (hour key -> segment ids), the retention horizon, and
    the modification time of each hour folder whose segments have all been requested (folder key -> ns)."""

    horizon: dt.datetime | None = None
    requested: dict[str, set[str]] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "SensorCursor":
        if not text:
            return cls()
        data = json.loads(text)
        horizon = dt.datetime.fromisoformat(data["horizon"]) if data.get("horizon") else None
        requested = {hour: set(ids) for hour, ids in data["requested"].items()}
        return cls(horizon, requested, dict(data.get("settled", {})))

    def serialize(self) -> str:
        return json.dumps(
            {
                "horizon": self.horizon.isoformat() if self.horizon else None,
                "requested": {hour: sorted(ids) for hour, ids in sorted(self.requested.items())},
                "settled": dict(sorted(self.settled.items())),
            }
        )


def folder_key(stream: Stream, hour: dt.datetime) -> str:
    return f"{stream.value}/{partition_key(hour)}"


@dataclass(frozen=True)
class HourRangeRequest:
    """A run for the contiguous hours [first, last] triggered by these segments."""

    first: dt.datetime
    last: dt.datetime
    segment_ids: tuple[str, ...]

    @property
    def run_key(self) -> str:
        digest = hashlib.sha256("\n".join(self.segment_ids).encode()).hexdigest()[:16]
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
) -> tuple[list[HourRangeRequest], SensorCursor]:
    """The runs to request now and the cursor after requesting them (pure: no I/O).

    ``max_lag_minutes`` decides when an hour is final; ``reach_minutes`` (the longest lag any model
    pairs passes over) how many earlier hours a segment changes. ``newest_hour`` is the landing zone's
    newest hour when ``segments`` are not all of them (default: the newest of ``segments``).
    """
    segments = list(segments)
    newest = newest_hour or max((segment.hour for segment in segments), default=None)
    horizon = retention_horizon(cursor, newest, first_hour)
    pending: dict[dt.datetime, set[str]] = defaultdict(set)
    for segment in segments:
        for hour in hours_changed_by(segment, reach_minutes, horizon):
            if segment.segment_id not in cursor.requested.get(partition_key(hour), ()):
                pending[hour].add(segment.segment_id)

    def is_final(hour: dt.datetime) -> bool:
        complete_at = hour + HOUR + dt.timedelta(minutes=max_lag_minutes)
        arrived = watermark is not None and watermark >= complete_at
        return arrived or now >= hour + HOUR + dt.timedelta(minutes=lateness_minutes)

    ready = sorted(hour for hour in pending if is_final(hour))
    requests: list[HourRangeRequest] = []
    run: list[dt.datetime] = []
    for hour in ready:
        if run and (hour - run[-1] != HOUR or len(run) == MAX_HOURS_PER_RUN):
            requests.append(_request(run, pending))
            run = []
        run.append(hour)
    if run:
        requests.append(_request(run, pending))

    requested = {key: set(ids) for key, ids in cursor.requested.items() if key >= partition_key(horizon)}
    for hour in ready:
        requested.setdefault(partition_key(hour), set()).update(pending[hour])
    return requests, SensorCursor(horizon, requested, cursor.settled)


def _request(hours: list[dt.datetime], pending: dict[dt.datetime, set[str]]) -> HourRangeRequest:
    pairs = sorted(f"{partition_key(hour)}/{segment_id}" for hour in hours for segment_id in pending[hour])
    return HourRangeRequest(hours[0], hours[-1], tuple(pairs))


def retention_horizon(cursor: SensorCursor, newest: dt.datetime | None, first_hour: dt.datetime) -> dt.datetime:
    """The oldest hour a new segment may still trigger (it never moves back)."""
    return max(filter(None, (cursor.horizon, newest - RETENTION if newest else None, first_hour)))


def hours_changed_by(segment: Segment, reach_minutes: int, horizon: dt.datetime) -> list[dt.datetime]:
    """The segment's hour and the earlier hours whose lookahead reaches into it, from the horizon on."""
    hours = (segment.hour - back * HOUR for back in range(lookahead_hours(reach_minutes) + 1))
    return [hour for hour in hours if hour >= horizon]


@dataclass(frozen=True)
class Listing:
    """What one tick listed: the segments to plan from and the folders they came from."""

    segments: list[Segment]
    folders: list[HourFolder]  # folders listed by folder (file systems); empty on object stores
    newest_hour: dt.datetime | None


def list_candidates(zone: LandingZone, cursor: SensorCursor, first_hour: dt.datetime) -> Listing:
    """The segments that may still trigger a run: hour folders from the horizon on, minus the settled
    folders whose time has not changed. The two newest heartbeat hours are always read (the watermark)."""
    since = max(filter(None, (cursor.horizon, first_hour)))
    folders = {stream: zone.hour_folders(stream, since=since) for stream in Stream}
    newest = max((folder.hour for found in folders.values() for folder in found), default=None)
    since = retention_horizon(cursor, newest, first_hour)
    segments: list[Segment] = []
    listed: list[HourFolder] = []
    for stream, found in folders.items():
        found = [folder for folder in found if folder.hour >= since]
        if any(folder.modified_ns is None for folder in found):
            segments += zone.segments(stream, since=since)
            continue
        watermark_hours = {folder.hour for folder in found[-2:]} if stream is Stream.HEARTBEATS else set()
        changed = [
            folder
            for folder in found
            if folder.hour in watermark_hours
            or cursor.settled.get(folder_key(stream, folder.hour)) != folder.modified_ns
        ]
        segments += zone.segments(stream, hours=[folder.hour for folder in changed])
        listed += changed
    return Listing(segments, listed, newest)


def settle_folders(
    cursor: SensorCursor, listing: Listing, *, listed_at: dt.datetime, reach_minutes: int
) -> SensorCursor:
    """The cursor with the listed folders whose every segment has been requested marked settled (skipped
    until their time changes); settled marks older than the horizon are dropped."""
    horizon = cursor.horizon
    if horizon is None:  # nothing planned yet
        return cursor
    in_folder: dict[str, list[Segment]] = defaultdict(list)
    for segment in listing.segments:
        in_folder[folder_key(segment.stream, segment.hour)].append(segment)

    def all_requested(key: str) -> bool:
        return all(
            segment.segment_id in cursor.requested.get(partition_key(hour), ())
            for segment in in_folder[key]
            for hour in hours_changed_by(segment, reach_minutes, horizon)
        )

    quiet_before = int((listed_at - SETTLE_MARGIN).timestamp()) * 1_000_000_000
    listed = {folder_key(folder.stream, folder.hour): folder.modified_ns for folder in listing.folders}
    settled = {key: ns for key, ns in cursor.settled.items() if key not in listed}
    for key, modified_ns in listed.items():
        if modified_ns is not None and modified_ns < quiet_before and all_requested(key):
            settled[key] = modified_ns
    oldest = partition_key(horizon)
    settled = {key: ns for key, ns in settled.items() if key.split("/", 1)[1] >= oldest}
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
        cursor = SensorCursor.parse(context.cursor)
        listing = list_candidates(zone, cursor, first_hour)
        flows = site.config.flows
        reach_minutes = longest_lag_minutes(flows.max_lag_minutes)
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
        )
        cursor = settle_folders(cursor, listing, listed_at=now, reach_minutes=reach_minutes)
        if not requests:
            return dg.SensorResult(skip_reason="no final hour with new segments", cursor=cursor.serialize())
        return dg.SensorResult(run_requests=[r.run_request() for r in requests], cursor=cursor.serialize())

    return landing_zone_sensor
