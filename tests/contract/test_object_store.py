"""The landing zone on an object store (s3://) through the same code as a local folder.

A real S3-compatible server (moto's standalone server) runs on 127.0.0.1 for the test.
"""

import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from individ.contract import LandingZone, Stream

from .conftest import HOUR, occurrence_rows

IDS = {"site_id": "demo-mall", "sensor_id": "edge-1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("moto_server is not installed (dev dependency moto[server])")
    port = _free_port()
    process = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moto server did not start")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_write_read_and_quarantine_on_s3(s3_endpoint: str) -> None:
    uri = f"s3://key:secret@landing-bucket/site-a?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    filesystem, _ = pafs.FileSystem.from_uri(uri + "&allow_bucket_creation=true")
    filesystem.create_dir("landing-bucket")
    zone = LandingZone(uri)
    assert not isinstance(zone.filesystem, pafs.LocalFileSystem)

    [segment] = zone.write(Stream.OCCURRENCES, occurrence_rows(), **IDS)
    assert zone.write(Stream.OCCURRENCES, occurrence_rows(), **IDS) == [segment]
    assert zone.segments(Stream.OCCURRENCES) == [segment]
    assert zone.read(segment).num_rows == 5

    with filesystem.open_output_stream(segment.path.replace(segment.segment_id, "occ-edge-1-20261102T09-bad")) as out:
        out.write(b"not parquet")
    read = list(zone.read_valid(Stream.OCCURRENCES))
    assert [s for s, _ in read] == [segment]
    [record] = zone.quarantined()
    assert "unreadable Parquet" in record["reason"]


def test_listing_by_hour_on_s3(s3_endpoint: str) -> None:
    uri = f"s3://key:secret@listing-bucket/site-b?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    filesystem, _ = pafs.FileSystem.from_uri(uri + "&allow_bucket_creation=true")
    filesystem.create_dir("listing-bucket")
    zone = LandingZone(uri)
    written = [
        segment
        for offset in (-30, 0, 1)
        for segment in zone.write(Stream.OCCURRENCES, occurrence_rows(start=HOUR + dt.timedelta(hours=offset)), **IDS)
    ]
    old, first, second = written
    assert zone.segments(Stream.OCCURRENCES, hours=[second.hour, old.hour]) == [old, second]
    assert zone.segments(Stream.OCCURRENCES, since=first.hour) == [first, second]
    folders = zone.hour_folders(Stream.OCCURRENCES, since=first.hour)
    # An object store has prefixes, not folders: no modification time to go by.
    assert [(f.hour, f.modified_ns) for f in folders] == [(first.hour, None), (second.hour, None)]
