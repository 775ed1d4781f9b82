"""A geometry-only tracker: each person passing a camera becomes one pass, with its crossing direction.

Tracks are matched to detections by overlap with their constant-velocity prediction (IoU), falling back
to centroid distance when the frame rate is too low for boxes to overlap. No appearance is kept: a
track is only a box, a velocity and a few times. A track that has not been seen for
``max_missing_seconds`` has ended and yields one ``Pass`` if it was seen at least ``min_hits`` times.

A pass is stamped with its crossing time, but a person may linger in view long after crossing. The
emitter releases rows by closed time slices after a fixed hold, so a pass must reach it in time: a
confirmed track whose crossing is ``pass_deadline_seconds`` old is handed on then, with the direction it
has so far. The track lives on (so the person is not counted again as a new track), yields nothing more
and is no longer reported as visible (no more features are sampled for it).

Counting line (normalised image coordinates, y pointing down): a person whose foot point (the bottom
centre of the box) crosses the segment start->end from its left side counts ``in``, from its right
side ``out``. "Left" is as seen on the image when looking from start towards end: for a horizontal
line drawn left to right, the upper half of the image is the left side. Several crossings net out;
a pass that never crosses, or crosses back, is ``unknown``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from individ.site_config import CountingLine
from sensors.settings import TrackingSettings
from sensors.vision.detections import iou_matrix

_VELOCITY_SMOOTHING = 0.5  # weight of the newest velocity measurement
# A person unseen for a while has probably stopped (the detector often loses standing persons):
# extrapolate the motion at most this far, then expect them where they were.
_MAX_EXTRAPOLATION_S = 0.5


@dataclass(frozen=True)
class Pass:
    """One person passing the camera: the only thing the tracker ever hands on."""

    track_id: int
    observed_at: dt.datetime  # the crossing time, else the last time the person was seen
    direction: str  # 'in' | 'out' | 'unknown'


@dataclass(frozen=True)
class TrackedBox:
    """A confirmed track matched to a detection in the current frame."""

    track_id: int
    xyxy: np.ndarray  # pixels, the detection's box


@dataclass(frozen=True)
class TrackerUpdate:
    visible: list[TrackedBox]  # confirmed tracks seen in this frame
    ended: list[Pass]  # confirmed tracks that ended at this frame
    discarded: list[int]  # ids of tracks that ended before being confirmed (never a person pass)


@dataclass
class _Track:
    track_id: int
    box: np.ndarray  # xyxy pixels
    velocity: np.ndarray  # xyxy pixels per second
    last_seen: dt.datetime
    anchor: tuple[float, float]  # normalised foot point at last_seen
    hits: int = 1
    net_crossings: int = 0
    crossed_at: dt.datetime | None = None
    history: list[int] = field(default_factory=list)  # +1 / -1 per crossing, for tests and debugging
    handed_on: bool = False  # its pass already left at the deadline; the track only keeps the person matched

    def predicted(self, when: dt.datetime) -> np.ndarray:
        elapsed = min((when - self.last_seen).total_seconds(), _MAX_EXTRAPOLATION_S)
        return self.box + self.velocity * elapsed


def line_side(line: CountingLine, x: float, y: float) -> float:
    """Negative on the left of start->end (as seen on the image), positive on the right, 0 on the line."""
    dx, dy = line.end.x - line.start.x, line.end.y - line.start.y
    return dx * (y - line.start.y) - dy * (x - line.start.x)


def crossing(line: CountingLine, before: tuple[float, float], after: tuple[float, float]) -> int:
    """+1 if the step before->after crosses the segment from left to right (in), -1 right to left, else 0.

    A point exactly on the line counts as the right side, so repeated crossings always net out.
    """
    left_before, left_after = line_side(line, *before) < 0, line_side(line, *after) < 0
    if left_before == left_after:
        return 0
    # The step crosses the infinite line; it crosses the segment if start and end lie on both sides of the step.
    (px, py), (qx, qy) = before, after
    side_of_start = (qx - px) * (line.start.y - py) - (qy - py) * (line.start.x - px)
    side_of_end = (qx - px) * (line.end.y - py) - (qy - py) * (line.end.x - px)
    if side_of_start * side_of_end > 0:
        return 0
    return 1 if left_before else -1


class Tracker:
    """Tracks persons in one camera's frames; call ``update`` once per processed frame, ``finish`` at the end."""

    def __init__(
        self,
        settings: TrackingSettings,
        counting_line: CountingLine | None = None,
        pass_deadline_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        self.counting_line = counting_line
        self.pass_deadline_seconds = pass_deadline_seconds
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1

    @property
    def active(self) -> int:
        return len(self._tracks)

    def update(self, boxes: np.ndarray, when: dt.datetime, frame_size: tuple[int, int]) -> TrackerUpdate:
        """Match ``boxes`` [N, 4] (pixels) seen at ``when`` in a frame of ``frame_size`` (width, height)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        tracks = list(self._tracks.values())
        matches = self._associate(tracks, boxes, when)
        matched_boxes = set()
        visible = []
        for track, box_index in matches:
            matched_boxes.add(box_index)
            self._move(track, boxes[box_index], when, frame_size)
            if track.hits >= self.settings.min_hits and not track.handed_on:
                visible.append(TrackedBox(track.track_id, boxes[box_index].astype(np.float32)))
        for index in range(len(boxes)):
            if index not in matched_boxes:
                self._start(boxes[index], when, frame_size)
        ended, discarded = self.expire(when)
        return TrackerUpdate(visible, ended, discarded)

    def expire(self, when: dt.datetime) -> tuple[list[Pass], list[int]]:
        """The passes due at ``when``: tracks unseen for ``max_missing_seconds`` and crossings at their deadline.

        ``update`` calls it every frame; call it alone while no frame arrives (a stalled live stream), so that
        passes still reach the emitter within its release hold.
        """
        limit = self.settings.max_missing_seconds
        lost = [t for t in self._tracks.values() if (when - t.last_seen).total_seconds() > limit]
        ended, discarded = self._end_all(lost)
        return ended + self._hand_on_overdue(when), discarded

    def finish(self) -> tuple[list[Pass], list[int]]:
        """End every live track (source ended, service stopping)."""
        return self._end_all(list(self._tracks.values()))

    # -- internals ---------------------------------------------------------------------------------

    def _associate(self, tracks: list[_Track], boxes: np.ndarray, when: dt.datetime) -> list[tuple[_Track, int]]:
        """Greedy matching: overlapping pairs first (highest IoU), then nearby centroids (closest first)."""
        if not tracks or not len(boxes):
            return []
        predicted = np.stack([t.predicted(when) for t in tracks])
        overlap = iou_matrix(predicted, boxes)
        centres_t = (predicted[:, :2] + predicted[:, 2:]) / 2
        centres_b = (boxes[:, :2] + boxes[:, 2:]) / 2
        heights = np.maximum(predicted[:, 3] - predicted[:, 1], 1.0)
        distance = np.linalg.norm(centres_t[:, None, :] - centres_b[None, :, :], axis=2) / heights[:, None]
        candidates = []
        for i in range(len(tracks)):
            for j in range(len(boxes)):
                if overlap[i, j] >= self.settings.iou_threshold:
                    candidates.append((0, -float(overlap[i, j]), i, j))
                elif distance[i, j] <= self.settings.max_centroid_distance:
                    candidates.append((1, float(distance[i, j]), i, j))
        candidates.sort()
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        matches = []
        for _, _, i, j in candidates:
            if i in used_tracks or j in used_boxes:
                continue
            used_tracks.add(i)
            used_boxes.add(j)
            matches.append((tracks[i], j))
        return matches

    def _anchor(self, box: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float]:
        width, height = frame_size
        return float((box[0] + box[2]) / 2 / width), float(box[3] / height)

    def _start(self, box: np.ndarray, when: dt.datetime, frame_size: tuple[int, int]) -> None:
        track = _Track(self._next_id, box.copy(), np.zeros(4), when, self._anchor(box, frame_size))
        self._tracks[track.track_id] = track
        self._next_id += 1

    def _move(self, track: _Track, box: np.ndarray, when: dt.datetime, frame_size: tuple[int, int]) -> None:
        elapsed = (when - track.last_seen).total_seconds()
        if elapsed > 0:
            measured = (box - track.box) / elapsed
            track.velocity = _VELOCITY_SMOOTHING * measured + (1 - _VELOCITY_SMOOTHING) * track.velocity
        anchor = self._anchor(box, frame_size)
        if self.counting_line is not None:
            step = crossing(self.counting_line, track.anchor, anchor)
            if step:
                track.net_crossings += step
                track.history.append(step)
                track.crossed_at = when
        track.box = box.copy()
        track.anchor = anchor
        track.last_seen = when
        track.hits += 1

    def _hand_on_overdue(self, when: dt.datetime) -> list[Pass]:
        """Passes of confirmed tracks whose crossing is ``pass_deadline_seconds`` old; those tracks yield no more."""
        deadline = self.pass_deadline_seconds
        if deadline is None:
            return []
        due = []
        for track in self._tracks.values():
            if track.handed_on or track.hits < self.settings.min_hits or track.net_crossings == 0:
                continue
            if track.crossed_at is not None and (when - track.crossed_at).total_seconds() >= deadline:
                track.handed_on = True
                due.append(self._pass_of(track))
        return due

    def _end_all(self, tracks: list[_Track]) -> tuple[list[Pass], list[int]]:
        """End these tracks: the passes they made, and the ids of those too short to count.

        A track already handed on ends silently: its pass has left."""
        ended, discarded = [], []
        for track in tracks:
            del self._tracks[track.track_id]
            if track.handed_on:
                continue
            if track.hits < self.settings.min_hits:
                discarded.append(track.track_id)
            else:
                ended.append(self._pass_of(track))
        return ended, discarded

    @staticmethod
    def _pass_of(track: _Track) -> Pass:
        if track.net_crossings > 0:
            direction = "in"
        elif track.net_crossings < 0:
            direction = "out"
        else:
            direction = "unknown"
        observed_at = track.crossed_at if track.crossed_at is not None and direction != "unknown" else track.last_seen
        return Pass(track.track_id, observed_at, direction)
