"""From a person's embedding to a group id: noise, keyed LSH of the current epoch, deletion.

The key rotates every ``rotation_hours`` (epoch = floor(unix_time / period)); within an epoch every
camera of the site uses the same hash, so the same person tends to land in the same group at two
cameras. Balance on real traffic: while epoch e runs, the assigner also projects every noisy vector
with epoch e+1's hash and keeps only the running mean and covariance of those 3 numbers; epoch e+1
then whitens with them (see ``sensors.privacy.lsh``). The first epoch after a start, or one following
a quiet epoch (fewer than ``min_calibration_count`` persons), hashes uncalibrated.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from sensors.privacy.keys import EpochKeys
from sensors.privacy.lsh import EMBEDDING_DIM, KeyedLsh, ProjectionAccumulator, ProjectionStats
from sensors.privacy.noise import add_noise


def delete_features(*arrays: np.ndarray) -> None:
    """Overwrite arrays in place with zeros: features must not outlive their use, even in freed memory."""
    for array in arrays:
        if isinstance(array, np.ndarray) and array.flags.writeable:
            array.fill(0)


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
        self._epoch: int | None = None
        self._hash: KeyedLsh | None = None
        self._previous: tuple[int, KeyedLsh] | None = None
        self._next_hash: KeyedLsh | None = None
        self._next_stats = ProjectionAccumulator()

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
        current = self._hash_for(self._keys.epoch_at(self._clock() if at is None else at))
        noisy = add_noise(vector, self.sigma, self._rng)
        try:
            if self._calibrate and self._next_hash is not None:
                self._next_stats.add(self._next_hash.project(noisy))
            return current.group(noisy)
        finally:
            delete_features(noisy)

    def _hash_for(self, epoch: int) -> KeyedLsh:
        if self._hash is not None and epoch == self._epoch:
            return self._hash
        if self._epoch is not None and epoch < self._epoch:
            # A late frame from before a rotation (cameras lag differently): its epoch's hash, state untouched.
            if self._previous is not None and self._previous[0] == epoch:
                return self._previous[1]
            return KeyedLsh(self._keys.key_for(epoch), self.dim)
        stats: ProjectionStats | None = None
        if self._epoch is not None and epoch == self._epoch + 1 and self._next_stats.count >= self._min_count:
            stats = self._next_stats.stats()
        if self._hash is not None and self._epoch is not None:
            self._previous = (self._epoch, self._hash)
        self._epoch = epoch
        self._hash = KeyedLsh(self._keys.key_for(epoch), self.dim, stats)
        self._next_hash = KeyedLsh(self._keys.key_for(epoch + 1), self.dim) if self._calibrate else None
        self._next_stats = ProjectionAccumulator()
        return self._hash
