"""The LSH calibration kept across restarts: per key epoch, an aggregate of many persons, never a person.

Why: the keyed hash whitens its 3 projections with the population's mean and 3 x 3 covariance
(``sensors.privacy.lsh``); a sensor that starts without them hashes uncalibrated, and crowded cells raise
p_diff from about 0.001 to 0.005-0.015 for a whole epoch.

What can be carried over: the projections are keyed per epoch, so epoch e's statistics are of no use under
epoch e+1's key. But the sensor holds the secret, so it knows the projections of every FUTURE epoch: while
one epoch runs it measures the statistics of each of the next 7 epochs (a week of daily keys;
``sensors.privacy.grouping``) and this file keeps them. A restart within those 7 epochs finds the statistics of
the epoch in force, measured on earlier traffic under that epoch's own key: exact, not approximated.

Considered and not chosen: a key-independent summary (the mean of the 1,024-value noisy vectors plus a few
principal axes), from which any key's 3 x 3 statistics can be derived. It calibrates as well on the shared
re-identification sets, but it needs a 1,024 x 1,024 running sum on the assignment path (1.5-4 ms per
person), holds a recoverable noisy vector in memory until many persons are mixed in, and writes the crowd's
appearance structure to disk. The keyed aggregate costs microseconds and means nothing without the key.
Its limit: after a downtime longer than the look-ahead the first epoch hashes uncalibrated (and logs it).

The file (JSON, next to the key file, never with the data) holds, per epoch: its number, the number of
passes it summarises (at least ``min_persons``, checked when writing and when reading), the mean [3] and
the covariance [3, 3]: 13 numbers per epoch, no row per person. It is written atomically (temporary file,
fsync, rename, fsync of the folder) with mode 0600, and carries a SHA-256 of its content and a one-way
fingerprint of the site secret; a file that fails any check raises ``CalibrationFileError`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensors.privacy.lsh import AXES, ProjectionStats

FORMAT = "individ-lsh-calibration/1"
MAX_EPOCHS = 100  # far more than the 7 epochs of look-ahead


class CalibrationFileError(RuntimeError):
    """The calibration file cannot be used; the message says why (it never holds more than aggregates)."""


def calibration_path_for(key_file: Path) -> Path:
    """Where the calibration of the keys in ``key_file`` is kept: the same folder, ``<name>.lsh-calibration.json``."""
    return key_file.with_name(f"{key_file.stem}.lsh-calibration.json")


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class CalibrationStore:
    """Reads and writes the calibration file of one site secret."""

    path: Path
    fingerprint: str
    min_persons: int

    def save(self, stats: Mapping[int, ProjectionStats], now: dt.datetime | None = None) -> int:
        """Write every epoch's statistics that summarise at least ``min_persons`` passes; return how many.

        Raises OSError if the file cannot be written (the previous file, if any, is then left intact).
        """
        kept = {epoch: s for epoch, s in sorted(stats.items()) if s.count >= self.min_persons}
        body = {
            "format": FORMAT,
            "secret_fingerprint": self.fingerprint,
            "written_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
            "min_persons": self.min_persons,
            "epochs": [
                {
                    "epoch": int(epoch),
                    "persons": int(s.count),
                    "mean": [float(v) for v in s.mean],
                    "covariance": [[float(v) for v in row] for row in s.covariance],
                }
                for epoch, s in kept.items()
            ],
        }
        _write_atomically(self.path, json.dumps({**body, "sha256": _digest(body)}, indent=1) + "\n")
        return len(kept)

    def load(self) -> dict[int, ProjectionStats]:
        """The stored statistics by epoch; empty if there is no file; CalibrationFileError if it is unusable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise CalibrationFileError(f"cannot read {self.path}: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise CalibrationFileError(f"{self.path} is not valid JSON (truncated or damaged)") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CalibrationFileError(f"{self.path} is not an {FORMAT} file")
        checksum = data.pop("sha256", None)
        if checksum != _digest(data):
            raise CalibrationFileError(f"{self.path} fails its checksum (damaged or edited)")
        if data.get("secret_fingerprint") != self.fingerprint:
            raise CalibrationFileError(f"{self.path} was written for another site secret")
        entries = data.get("epochs")
        if not isinstance(entries, list) or len(entries) > MAX_EPOCHS:
            raise CalibrationFileError(f"{self.path}: 'epochs' must be a list of at most {MAX_EPOCHS} entries")
        stats: dict[int, ProjectionStats] = {}
        for index, entry in enumerate(entries):
            epoch, entry_stats = self._entry(entry, f"{self.path}: epochs[{index}]")
            if epoch in stats:
                raise CalibrationFileError(f"{self.path}: epoch {epoch} appears twice")
            stats[epoch] = entry_stats
        return stats

    def _entry(self, entry: Any, where: str) -> tuple[int, ProjectionStats]:
        if not isinstance(entry, dict) or set(entry) != {"epoch", "persons", "mean", "covariance"}:
            raise CalibrationFileError(f"{where} must hold exactly epoch, persons, mean and covariance")
        epoch, persons = entry["epoch"], entry["persons"]
        if not isinstance(epoch, int) or not isinstance(persons, int):
            raise CalibrationFileError(f"{where}: epoch and persons must be integers")
        if persons < self.min_persons:
            raise CalibrationFileError(
                f"{where} summarises {persons} passes, fewer than the minimum of {self.min_persons}"
            )
        try:
            mean = np.array(entry["mean"], np.float64)
            covariance = np.array(entry["covariance"], np.float64)
        except (TypeError, ValueError):
            raise CalibrationFileError(f"{where}: mean and covariance must be numbers") from None
        if mean.shape != (AXES,) or covariance.shape != (AXES, AXES):
            raise CalibrationFileError(f"{where}: mean must hold {AXES} numbers and covariance {AXES} x {AXES}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(covariance))):
            raise CalibrationFileError(f"{where}: mean and covariance must be finite")
        if not np.allclose(covariance, covariance.T, rtol=1e-9, atol=1e-12):
            raise CalibrationFileError(f"{where}: the covariance is not symmetric")
        if np.linalg.eigvalsh(covariance).min() <= 0:
            raise CalibrationFileError(f"{where}: the covariance is not positive definite")
        return epoch, ProjectionStats(mean, covariance, persons)


def _write_atomically(path: Path, text: str) -> None:
    """Temporary file in the same folder (mode 0600), fsync, rename over ``path``, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
