"""The site master secret and the per-epoch LSH keys derived from it.

Without the secret nobody can compute a person's group from an image, so the secret lives in one key
file next to the sensor (created with mode 0600 if absent), is never logged, never printed in a
``repr`` and never written with the data. Each rotation epoch (``floor(unix_time / period)``) gets its
own key ``HMAC-SHA256(secret, "individ/lsh-epoch/<epoch>")``: the epoch number goes out in heartbeats,
the key never does, and knowing one epoch's key tells nothing about another's.

When the key changes: a person whose visit spans a key change lands in unrelated groups before and after
it, so flows across the change are undercounted; the change should fall while the site is closed. Epochs
are therefore counted in the site's local WINTER time (its smallest UTC offset of the year):
``epoch = floor((unix_time + winter_offset - rotation_hour * 3600) / period)``. With the default daily
period the key changes at ``rotation_hour`` local time in winter and one hour later while summer time is
in force (04:00 -> 05:00), never earlier. Counting in wall-clock time instead would make the day of the
autumn clock change a 25-hour epoch (the key in use longer than the configured period, which the audit
checks) and would repeat an hour; a fixed offset keeps every epoch exactly one period long and the epoch
number non-decreasing. With UTC and rotation hour 0 this is the plain ``floor(unix_time / period)``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import os
import secrets
import stat
from pathlib import Path

KEY_FILE_ENV = "INDIVID_SENSOR_KEY_FILE"
SECRET_BYTES = 32


class KeyFileError(RuntimeError):
    """The key file is unreadable, malformed or readable by others (the message never holds key material)."""


class SiteSecret:
    """The master secret; its bytes are reachable only through ``derive``."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < SECRET_BYTES:
            raise KeyFileError(f"the site secret must hold at least {SECRET_BYTES} bytes")
        self._secret = bytes(secret)

    def derive(self, label: bytes) -> bytes:
        return hmac.new(self._secret, label, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "SiteSecret(<redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("the site secret cannot be pickled")


def key_file_path(configured: str | Path | None) -> Path:
    """The key file to use: ``$INDIVID_SENSOR_KEY_FILE`` if set, else the configured path."""
    override = os.environ.get(KEY_FILE_ENV)
    if override:
        return Path(override).expanduser()
    if configured is None:
        raise KeyFileError(f"no key file configured: set the sensor's key file or {KEY_FILE_ENV}")
    return Path(configured).expanduser()


def load_or_create_site_secret(configured: str | Path | None) -> SiteSecret:
    """Read the site secret (hex in a file of mode 0600), creating a fresh random one if the file is absent.

    A file that group or others can read is refused: the secret is what keeps groups uncomputable.
    """
    path = key_file_path(configured)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        except OSError as exc:
            raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from None
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"key file {path} is accessible to group or others: run chmod 600 {path}")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"key file {path} must hold the secret as hexadecimal text") from None
    return SiteSecret(secret)


def winter_offset_seconds(timezone: dt.tzinfo, year: int) -> float:
    """The zone's smallest UTC offset in ``year`` (its winter time), in seconds: mid-January or mid-July."""
    offsets = (dt.datetime(year, month, 15, 12, tzinfo=timezone).utcoffset() for month in (1, 7))
    return min(offset.total_seconds() for offset in offsets if offset is not None)


class EpochKeys:
    """Per-epoch LSH keys; epochs start at ``rotation_hour`` of the site's winter time, every ``rotation_hours``."""

    def __init__(
        self,
        secret: SiteSecret,
        rotation_hours: float,
        timezone: dt.tzinfo = dt.UTC,
        rotation_hour: int = 0,
    ) -> None:
        if rotation_hours <= 0:
            raise ValueError("rotation_hours must be positive")
        if not 0 <= rotation_hour <= 23:
            raise ValueError("rotation_hour must be an hour of the day, 0..23")
        self._secret = secret
        self.period_seconds = rotation_hours * 3600.0
        self.timezone = timezone
        self.rotation_hour = rotation_hour
        self._winter_offsets: dict[int, float] = {}

    def epoch_at(self, unix_time: float) -> int:
        year = dt.datetime.fromtimestamp(unix_time, dt.UTC).year
        offset = self._winter_offsets.get(year)
        if offset is None:
            offset = self._winter_offsets.setdefault(year, winter_offset_seconds(self.timezone, year))
        return math.floor((unix_time + offset - self.rotation_hour * 3600.0) / self.period_seconds)

    def key_for(self, epoch: int) -> bytes:
        return self._secret.derive(f"individ/lsh-epoch/{epoch}".encode())

    def fingerprint(self) -> str:
        """A short one-way tag of the site secret: tells whether stored calibration belongs to these keys."""
        return self._secret.derive(b"individ/lsh-calibration/fingerprint")[:8].hex()

    def __repr__(self) -> str:
        return (
            f"EpochKeys(<redacted>, period_seconds={self.period_seconds:g}, timezone={self.timezone}, "
            f"rotation_hour={self.rotation_hour})"
        )
