"""From a person's embedding to a group id: noise, keyed LSH of the current epoch, deletion.

The key rotates every rotation period (``sensors.privacy.keys``); within an epoch every camera of the site
uses the same hash, so the same person tends to land in the same group at two cameras.

Balance on real traffic: an epoch's hash whitens its 3 projections with the population's mean and
covariance under THAT epoch's key (``sensors.privacy.lsh``). The assigner can compute future epochs' keys,
so it also projects every noisy vector with the hashes of the next ``CALIBRATION_LOOKAHEAD_EPOCHS`` epochs
(a week of daily keys; 21 more projections, well under 0.1 ms per pass) and keeps only the running sums of
those 3 numbers per epoch. An epoch starts calibrated when its sums cover at least ``min_calibration_count``
passes. ``save_calibration`` writes the sums that do next to the key file (``sensors.privacy.calibration``)
and a new assigner loads them, so a restart keeps its calibration. An epoch hashes uncalibrated, and the
log says so, only when fewer passes were seen in the 7 epochs before it: the very first start, or after a
long downtime.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from sensors.privacy.calibration import CalibrationFileError, CalibrationStore
from sensors.privacy.keys import EpochKeys
from sensors.privacy.lsh import AXES, EMBEDDING_DIM, KeyedLsh, ProjectionStats
from sensors.privacy.noise import add_noise

log = logging.getLogger(__name__)

CALIBRATION_LOOKAHEAD_EPOCHS = 7


def delete_features(*arrays: np.ndarray) -> None:
    """Overwrite arrays in place with zeros: features must not outlive their use, even in freed memory."""
    for array in arrays:
        if isinstance(array, np.ndarray) and array.flags.writeable:
            array.fill(0)


class LookaheadSums:
    """Running sums of z and z z^T under each of the next epochs' keys: the only thing kept from the persons seen.

    One vectorised update per pass for all epochs ahead.
    """

    def __init__(self, epochs: list[int], rows: np.ndarray, carried: Mapping[int, ProjectionStats]) -> None:
        self.epochs = epochs
        self._rows = np.ascontiguousarray(rows)  # [3 * len(epochs), dim]: the epochs' projection rows, stacked
        self._counts = np.zeros(len(epochs), np.int64)
        self._totals = np.zeros((len(epochs), AXES))
        self._outers = np.zeros((len(epochs), AXES, AXES))
        for index, epoch in enumerate(epochs):
            stats = carried.get(epoch)
            if stats is not None:  # the sums that ``stats`` summarise, so that accumulation goes on
                self._counts[index] = stats.count
                self._totals[index] = stats.count * stats.mean
                self._outers[index] = (stats.count - 1) * stats.covariance + stats.count * np.outer(
                    stats.mean, stats.mean
                )

    def add(self, noisy: np.ndarray) -> None:
        z = (self._rows @ noisy).astype(np.float64).reshape(-1, AXES)
        try:
            self._counts += 1
            self._totals += z
            self._outers += z[:, :, None] * z[:, None, :]
        finally:
            delete_features(z)

    def ready(self, min_count: int) -> dict[int, ProjectionStats]:
        """The statistics of every epoch whose sums cover at least ``min_count`` passes."""
        ready = {}
        for index, epoch in enumerate(self.epochs):
            count = int(self._counts[index])
            if count >= max(min_count, 2):
                mean = self._totals[index] / count
                covariance = (self._outers[index] - count * np.outer(mean, mean)) / (count - 1)
                ready[epoch] = ProjectionStats(mean, covariance, count)
        return ready


class GroupAssigner:
    """Assigns groups with the epoch's keyed hash after adding noise; never keeps a vector."""

    def __init__(
        self,
        keys: EpochKeys,
        sigma: float,
        *,
        dim: int = EMBEDDING_DIM,
        rng: np.random.Generator | None = None,
        clock: Callable[[], float] = time.time,
        calibrate: bool = True,
        min_calibration_count: int = 1000,
        store: CalibrationStore | None = None,
    ) -> None:
        if sigma < 0:
            raise ValueError("noise sigma must be >= 0")
        self._keys = keys
        self.sigma = sigma
        self.dim = dim
        self._rng = rng or np.random.default_rng()
        self._clock = clock
        self._calibrate = calibrate
        self._min_count = min_calibration_count
        self._store = store if calibrate else None
        self._lock = threading.Lock()
        self._epoch: int | None = None
        self._hash: KeyedLsh | None = None
        self._previous: tuple[int, KeyedLsh] | None = None
        self._lookahead = CALIBRATION_LOOKAHEAD_EPOCHS if calibrate else 0
        # Until the first epoch starts: the sums restored from the calibration file.
        restored = self._load() if self._store is not None else {}
        self._ahead = LookaheadSums(sorted(restored), np.empty((0, dim), np.float32), restored)
        self._future_rows: dict[int, np.ndarray] = {}  # projection rows [3, dim] of the epochs ahead

    @property
    def epoch(self) -> int:
        """The key epoch in force now (goes out in heartbeats as lsh_key_epoch)."""
        return self._keys.epoch_at(self._clock())

    @property
    def calibrated(self) -> bool:
        return self._hash is not None and self._hash.calibration is not None

    def assign(self, embedding: np.ndarray, at: float | None = None) -> int:
        """Group 0..999 of one unit embedding [dim] observed at unix time ``at`` (default: now)."""
        vector = np.asarray(embedding, np.float32)
        if vector.shape != (self.dim,):
            raise ValueError(f"expected an embedding of {self.dim} values, got shape {vector.shape}")
        if not np.all(np.isfinite(vector)):
            raise ValueError("the embedding holds NaN or infinite values")
        with self._lock:
            current = self._hash_for(self._keys.epoch_at(self._clock() if at is None else at))
            noisy = add_noise(vector, self.sigma, self._rng)
            try:
                if self._future_rows:
                    self._ahead.add(noisy)
                return current.group(noisy)
            finally:
                delete_features(noisy)

    def save_calibration(self) -> int | None:
        """Write the calibration aggregates that are ready (at least the minimum of passes) next to the key file.

        Returns the number of epochs written, or None if there is no store or the write failed (logged).
        """
        if self._store is None:
            return None
        now_epoch = self._keys.epoch_at(self._clock())
        with self._lock:
            ready = {e: stats for e, stats in self._ahead.ready(self._min_count).items() if e >= now_epoch}
            in_force = self._hash.calibration if self._hash is not None else None
            if self._epoch is not None and self._epoch >= now_epoch and in_force is not None:
                ready[self._epoch] = in_force
        try:
            return self._store.save(ready)
        except OSError as exc:
            log.error("cannot save the LSH calibration to %s: %s", self._store.path, exc.strerror or type(exc).__name__)
            return None

    def _load(self) -> dict[int, ProjectionStats]:
        assert self._store is not None
        try:
            stored = self._store.load()
        except CalibrationFileError as exc:
            log.warning("LSH calibration file rejected (%s): the first key epoch hashes uncalibrated", exc)
            return {}
        if stored:
            log.info("LSH calibration restored for key epochs %d..%d", min(stored), max(stored))
        return stored

    def _hash_for(self, epoch: int) -> KeyedLsh:
        if self._hash is not None and epoch == self._epoch:
            return self._hash
        if self._epoch is not None and epoch < self._epoch:
            # A late frame from before a rotation (cameras lag differently): its epoch's hash, state untouched.
            if self._previous is not None and self._previous[0] == epoch:
                return self._previous[1]
            return KeyedLsh(self._keys.key_for(epoch), self.dim)
        return self._start_epoch(epoch)

    def _start_epoch(self, epoch: int) -> KeyedLsh:
        carried = self._ahead.ready(2)
        stats = carried.get(epoch)
        if stats is not None and stats.count < self._min_count:
            stats = None
        if self._calibrate:
            if stats is not None:
                log.info("key epoch %d starts calibrated on %d passes", epoch, stats.count)
            else:
                log.warning(
                    "key epoch %d hashes UNCALIBRATED: fewer than %d passes were measured under its key "
                    "(first start, or the sensor was down for most of the 7 epochs before)",
                    epoch,
                    self._min_count,
                )
        if self._hash is not None and self._epoch is not None:
            self._previous = (self._epoch, self._hash)
        self._epoch = epoch
        self._hash = KeyedLsh(self._keys.key_for(epoch), self.dim, stats)
        future = list(range(epoch + 1, epoch + 1 + self._lookahead))
        self._future_rows = {
            e: self._future_rows[e] if e in self._future_rows else KeyedLsh(self._keys.key_for(e), self.dim).projections
            for e in future
        }
        rows = np.concatenate([self._future_rows[e] for e in future]) if future else np.empty((0, self.dim))
        self._ahead = LookaheadSums(future, rows, carried)
        return self._hash
