"""Pair counts behind every flow: M (same-group pairs) and T (time pairs) per camera pair and hour.

For an ordered camera pair (A, B), an origin hour h of the run window and a destination hour h2:
  M = #(A pass in h, B pass in h2, same group, 0 < t_B - t_A <= W)
  T = #(A pass in h, B pass in h2, any groups, 0 < t_B - t_A <= W)
with W the site's max_lag_minutes, and the same two counts for the direct lag D <= W (dbt var
flow_direct_lag_minutes: the walk straight from A to B), which the lag-profile flow estimate uses.
M for W is also split by block of groups (group mod K, dbt var interval_blocks): the blocks are
independent replicates of the chance process, whose spread gives the variance of flows summed over
many camera pairs (flow_matrix_zone_daily). All counts are exact to the second.

Why Python: counting the pairs one by one (a join on group and time bucket) produces about 300
million rows for a busy mall day. Instead:
* M: passes sorted by (group, time); for every A pass, binary searches find the sorted positions of
  t_A and of each destination-hour boundary (capped at t_A + W); for each camera B a running count
  of B rows turns two positions into the number of B passes between them, summed per A cell.
* T: per-second pass counts per camera; the B passes in (s, s + W] are differences of cumulative
  counts, and T for every camera pair at once is a matrix product per hour.
The cost is (passes x cameras) vectorised numpy steps, no per-row Python and no pair rows. Origin
hours are processed a day at a time, so a long backfill does not hold everything in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

_TIME_BITS = 40  # seconds within a chunk fit in 40 bits; the group goes above them
_CHUNK_HOURS = 24
_COLUMNS = (
    "origin_idx",
    "destination_idx",
    "hour_idx",
    "destination_hour_idx",
    "time_pairs",
    "same_group_pairs",
    "direct_time_pairs",
    "direct_same_group_pairs",
    "same_group_pairs_by_block",
)


def _boundaries(rel: np.ndarray, lag: int, n_slots: int) -> list[np.ndarray]:
    """Time boundaries per origin pass: t_A, then the end (last second) of the origin hour and of
    each following hour, capped at t_A + W. Destination slot k counts passes in (b_k, b_k+1]."""
    hour = rel // 3600
    bounds = [rel]
    for slot in range(1, n_slots + 1):
        bounds.append(np.minimum((hour + slot) * 3600 - 1, rel + lag))
    return bounds


def _same_group_pairs(
    rel: np.ndarray,
    camera: np.ndarray,
    group: np.ndarray,
    hours: int,
    lags: tuple[int, ...],
    n_cameras: int,
    n_slots: int,
    blocks: tuple[int, ...],
) -> list[np.ndarray]:
    """M per lag, split into that lag's number of blocks of groups (group mod blocks), each as
    [destination camera, slot, (origin camera * hours + origin hour) * blocks + block]."""
    key = (group << _TIME_BITS) + rel
    order = np.argsort(key, kind="stable")
    key, camera, rel, group = key[order], camera[order], rel[order], group[order]
    origin = np.flatnonzero(rel < hours * 3600)
    counts = [np.zeros((n_cameras, n_slots, n_cameras * hours * k), dtype=np.int64) for k in blocks]
    if origin.size == 0:
        return counts
    origin_cell = camera[origin] * hours + rel[origin] // 3600
    cells = [origin_cell * k + group[origin] % k for k in blocks]
    base = key[origin] - rel[origin]
    # Every lag's first boundary is t_A itself: searched once, its running count read once per camera.
    start = np.searchsorted(key, key[origin], side="right")
    later_positions = [
        [np.searchsorted(key, base + bound, side="right") for bound in _boundaries(rel[origin], lag, n_slots)[1:]]
        for lag in lags
    ]
    running = np.zeros(key.size + 1, dtype=np.int32)
    for destination in range(n_cameras):
        is_destination = camera == destination
        if not is_destination.any():
            continue
        np.cumsum(is_destination, out=running[1:])
        # Origin passes stay in sorted order, so these lookups walk the running count forwards.
        start_count = running[start]
        for lag_counts, cell, positions in zip(counts, cells, later_positions, strict=True):
            ends = [start_count, *(running[p] for p in positions)]
            for slot in range(n_slots):
                lag_counts[destination, slot] = np.bincount(
                    cell, weights=ends[slot + 1] - ends[slot], minlength=lag_counts.shape[2]
                ).astype(np.int64)
    return counts


def _time_pairs(
    rel: np.ndarray, camera: np.ndarray, hours: int, lags: tuple[int, ...], n_cameras: int, n_slots: int
) -> list[np.ndarray]:
    """T per lag, each as [destination camera, slot, origin camera * hours + origin hour]."""
    seconds = hours * 3600
    width = seconds + max(lags) + 1
    per_second = np.bincount(camera * width + rel, minlength=n_cameras * width).astype(np.float64)
    per_second = per_second.reshape(n_cameras, width)
    cumulative = np.zeros((n_cameras, per_second.shape[1] + 1))
    np.cumsum(per_second, axis=1, out=cumulative[:, 1:])  # cumulative[:, x] = passes before second x
    origin_seconds = np.arange(seconds)
    origin = per_second[:, :seconds].reshape(n_cameras, hours, 3600).transpose(1, 0, 2)  # [hour, A, s]
    counts = [np.zeros((n_cameras, n_slots, n_cameras * hours), dtype=np.int64) for _ in lags]
    for lag_counts, lag in zip(counts, lags, strict=True):
        bounds = _boundaries(origin_seconds, lag, n_slots)
        for slot in range(n_slots):
            between = cumulative[:, bounds[slot + 1] + 1] - cumulative[:, bounds[slot] + 1]  # [B, s]
            destination = between.reshape(n_cameras, hours, 3600).transpose(1, 2, 0)  # [hour, s, B]
            pairs = np.rint(np.matmul(origin, destination)).astype(np.int64)  # [hour, A, B]
            lag_counts[:, slot, :] = pairs.transpose(2, 1, 0).reshape(n_cameras, n_cameras * hours)
    return counts


def _chunk_table(
    rel: np.ndarray,
    camera: np.ndarray,
    group: np.ndarray,
    first_hour_idx: int,
    hours: int,
    lags: tuple[int, int],
    n_cameras: int,
    blocks: int,
) -> pa.Table:
    """The pair counts of one chunk for the lag W and the direct lag D (lags = (W, D), D <= W), M for W
    also per block of groups."""
    n_slots = 1 + -(-lags[0] // 3600)  # the origin hour and as many following hours as the lag reaches
    by_block, direct_same_group = _same_group_pairs(
        rel, camera, group, hours, lags, n_cameras, n_slots, blocks=(blocks, 1)
    )
    by_block = by_block.reshape(n_cameras, n_slots, n_cameras * hours, blocks)
    same_group = by_block.sum(axis=3)
    any_group, direct_any_group = _time_pairs(rel, camera, hours, lags, n_cameras, n_slots)
    destination, slot, cell = np.nonzero(any_group)
    origin_idx, hour_offset = np.divmod(cell, hours)
    block_values = pa.array(by_block[destination, slot, cell].ravel(), pa.int32())
    block_offsets = pa.array(np.arange(0, len(block_values) + 1, blocks, dtype=np.int32))
    hour_idx = first_hour_idx + hour_offset
    return pa.table(
        {
            "origin_idx": pa.array(origin_idx, pa.int16()),
            "destination_idx": pa.array(destination, pa.int16()),
            "hour_idx": pa.array(hour_idx, pa.int32()),
            "destination_hour_idx": pa.array(hour_idx + slot, pa.int32()),
            "time_pairs": pa.array(any_group[destination, slot, cell], pa.int64()),
            "same_group_pairs": pa.array(same_group[destination, slot, cell], pa.int64()),
            "direct_time_pairs": pa.array(direct_any_group[destination, slot, cell], pa.int64()),
            "direct_same_group_pairs": pa.array(direct_same_group[destination, slot, cell], pa.int64()),
            "same_group_pairs_by_block": pa.ListArray.from_arrays(block_offsets, block_values),
        }
    )


def model(dbt: Any, session: Any) -> pa.Table:
    """dbt's entry point: the run window and the read frame's passes in, the pair counts out."""
    dbt.config(materialized="table")
    run = dbt.ref("int_run_window").fetchnumpy()
    if len(run["window_start"]) == 0:
        empty = {name: pa.array([], pa.int64()) for name in _COLUMNS[:-1]}
        return pa.table({**empty, _COLUMNS[-1]: pa.array([], pa.list_(pa.int32()))})
    window_start = int(run["window_start"][0].astype("datetime64[s]").astype(np.int64))
    window_end = int(run["window_end"][0].astype("datetime64[s]").astype(np.int64))
    lags = (int(run["flow_lag_s"][0]), int(run["flow_direct_lag_s"][0]))
    blocks = int(run["interval_blocks"][0])
    passes = dbt.ref("int_occurrences_read").fetchnumpy()
    t = np.asarray(passes["t"], dtype=np.int64)
    camera = np.asarray(passes["camera_idx"], dtype=np.int64)
    group = np.asarray(passes["group_id"], dtype=np.int64)
    n_cameras = int(camera.max()) + 1 if camera.size else 1
    tables = []
    for chunk_start in range(window_start, window_end, _CHUNK_HOURS * 3600):
        chunk_end = min(chunk_start + _CHUNK_HOURS * 3600, window_end)
        rows = (t >= chunk_start) & (t <= chunk_end + lags[0])
        tables.append(
            _chunk_table(
                t[rows] - chunk_start,
                camera[rows],
                group[rows],
                chunk_start // 3600,
                (chunk_end - chunk_start) // 3600,
                lags,
                n_cameras,
                blocks,
            )
        )
    return pa.concat_tables(tables)
