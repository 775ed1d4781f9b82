"""The site master secret and the per-epoch LSH keys derived from it.

Without the secret nobody can compute a person's group from an image, so the secret lives in one key
file next to the sensor (created with mode 0600 if absent), is never logged, never printed in a
``repr`` and never written with the data. Each rotation epoch (``floor(unix_time / period)``) gets its
own key ``HMAC-SHA256(secret, "individ/lsh-epoch/<epoch>")``: the epoch number goes out in heartbeats,
the key never does, and knowing one epoch's key tells nothing about another's.
"""

from __future__ import annotations

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


class EpochKeys:
    """Per-epoch LSH keys: epoch = floor(unix_time / (rotation_hours * 3600))."""

    def __init__(self, secret: SiteSecret, rotation_hours: float) -> None:
        if rotation_hours <= 0:
            raise ValueError("rotation_hours must be positive")
        self._secret = secret
        self.period_seconds = rotation_hours * 3600.0

    def epoch_at(self, unix_time: float) -> int:
        return math.floor(unix_time / self.period_seconds)

    def key_for(self, epoch: int) -> bytes:
        return self._secret.derive(f"individ/lsh-epoch/{epoch}".encode())

    def __repr__(self) -> str:
        return f"EpochKeys(<redacted>, period_seconds={self.period_seconds:g})"
