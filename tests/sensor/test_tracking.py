"""The geometry-only tracker: one pass per person, the right direction, nothing from a one-frame blip."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from individ.site_config import CountingLine, Point
from sensors.settings import TrackingSettings
from sensors.tracking import Pass, Tracker, crossing, line_side

from .conftest import START

FRAME = (640, 480)
# A horizontal line across the middle, drawn left to right: its left side is the upper half.
MIDDLE = CountingLine(start=Point(x=0.0, y=0.5), end=Point(x=1.0, y=0.5))


def box_at(cx: float, bottom: float, width: float = 40, height: float = 120) -> list[float]:
    return [cx - width / 2, bottom - height, cx + width / 2, bottom]


def run(tracker: Tracker, frames: list[list[list[float]]], fps: float = 10.0) -> list[Pass]:
    """Feed boxes per frame, then empty frames until every track has ended; return the passes."""
    passes = []
    when = START
    for boxes in [*frames, *([[]] * int(fps * 3))]:
        update = tracker.update(np.array(boxes, np.float64).reshape(-1, 4), when, FRAME)
        passes.extend(update.ended)
        when += dt.timedelta(seconds=1 / fps)
    assert tracker.active == 0
    return passes


def walk(x0: float, y0: float, x1: float, y1: float, steps: int) -> list[list[float]]:
    return [box_at(x0 + (x1 - x0) * i / (steps - 1), y0 + (y1 - y0) * i / (steps - 1)) for i in range(steps)]


def test_line_side_convention() -> None:
    assert line_side(MIDDLE, 0.5, 0.2) < 0  # upper half: left of a left-to-right line
    assert line_side(MIDDLE, 0.5, 0.8) > 0
    assert crossing(MIDDLE, (0.5, 0.2), (0.5, 0.8)) == 1
    assert crossing(MIDDLE, (0.5, 0.8), (0.5, 0.2)) == -1
    assert crossing(MIDDLE, (0.5, 0.2), (0.5, 0.3)) == 0
    short = CountingLine(start=Point(x=0.0, y=0.5), end=Point(x=0.3, y=0.5))
    assert crossing(short, (0.8, 0.2), (0.8, 0.8)) == 0  # passes beside the segment, not through it


def test_one_person_walking_down_counts_once_in() -> None:
    tracker = Tracker(TrackingSettings(), MIDDLE)
    passes = run(tracker, [[b] for b in walk(320, 100, 320, 460, 30)])
    assert [p.direction for p in passes] == ["in"]
    # The pass is stamped at the crossing, about half-way through the walk.
    assert START + dt.timedelta(seconds=1) < passes[0].observed_at < START + dt.timedelta(seconds=2)


def test_walking_up_counts_out_and_reversing_the_line_swaps_it() -> None:
    frames = [[b] for b in walk(320, 460, 320, 100, 30)]
    assert [p.direction for p in run(Tracker(TrackingSettings(), MIDDLE), frames)] == ["out"]
    reversed_line = CountingLine(start=MIDDLE.end, end=MIDDLE.start)
    assert [p.direction for p in run(Tracker(TrackingSettings(), reversed_line), frames)] == ["in"]


def test_no_line_gives_unknown_and_a_turn_back_nets_out() -> None:
    frames = [[b] for b in walk(320, 100, 320, 460, 20)]
    assert [p.direction for p in run(Tracker(TrackingSettings(), None), frames)] == ["unknown"]
    there_and_back = [[b] for b in walk(320, 150, 320, 400, 15) + walk(320, 400, 320, 150, 15)]
    assert [p.direction for p in run(Tracker(TrackingSettings(), MIDDLE), there_and_back)] == ["unknown"]


def test_two_people_crossing_in_opposite_directions_count_once_each() -> None:
    down = walk(150, 100, 170, 460, 30)
    up = walk(500, 460, 480, 100, 30)
    passes = run(Tracker(TrackingSettings(), MIDDLE), [[a, b] for a, b in zip(down, up, strict=True)])
    assert sorted(p.direction for p in passes) == ["in", "out"]


def test_short_occlusion_keeps_one_track_but_a_long_absence_makes_two() -> None:
    frames = [[b] for b in walk(100, 300, 540, 300, 40)]
    occluded = [boxes if not 15 <= i < 20 else [] for i, boxes in enumerate(frames)]  # 0.5 s gap
    assert len(run(Tracker(TrackingSettings(), None), occluded)) == 1
    gone = [boxes if not 10 <= i < 25 else [] for i, boxes in enumerate(frames)]  # 1.5 s gap > 1 s
    assert len(run(Tracker(TrackingSettings(), None), gone)) == 2


def test_one_frame_false_positives_are_not_persons() -> None:
    blips = [[box_at(100 + 50 * i, 300)] if i % 5 == 0 else [] for i in range(50)]
    assert run(Tracker(TrackingSettings(), None), blips) == []


def test_low_frame_rate_matches_by_centroid_with_motion() -> None:
    """At 2 fps a walker's boxes stop overlapping; the constant-velocity prediction still follows them."""
    frames = [[b] for b in walk(40, 300, 600, 300, 8)]  # 80 px per frame, boxes 40 px wide
    passes = run(Tracker(TrackingSettings(), None), frames, fps=2.0)
    assert len(passes) == 1


@pytest.mark.parametrize("people", [1, 3, 5])
def test_many_passes_in_a_row_count_exactly(people: int) -> None:
    frames: list[list[list[float]]] = []
    for person in range(people):
        frames += [[b] for b in walk(200 + 40 * person, 80, 220 + 40 * person, 470, 25)]
        frames += [[]] * 15  # 1.5 s between persons
    passes = run(Tracker(TrackingSettings(), MIDDLE), frames)
    assert [p.direction for p in passes] == ["in"] * people


def test_finish_ends_live_tracks() -> None:
    tracker = Tracker(TrackingSettings(), None)
    when = START
    for box in walk(100, 300, 300, 300, 10):
        tracker.update(np.array([box]), when, FRAME)
        when += dt.timedelta(seconds=0.1)
    passes, discarded = tracker.finish()
    assert len(passes) == 1 and discarded == [] and tracker.active == 0


def test_a_person_lingering_after_crossing_is_handed_on_at_the_deadline_and_only_once() -> None:
    """The emitter releases rows by time after a fixed hold: a pass stamped at its crossing must not wait for a
    person who stands in view for minutes, or it would arrive after its time slice has left."""
    tracker = Tracker(TrackingSettings(), MIDDLE, pass_deadline_seconds=60)
    crossing_walk = walk(320, 100, 320, 460, 30)
    frames = [[b] for b in crossing_walk] + [[crossing_walk[-1]]] * 10 * 120  # then stands for 2 minutes
    when, handed_on, visible_after = START, [], 0
    for boxes in frames:
        update = tracker.update(np.array(boxes, np.float64).reshape(-1, 4), when, FRAME)
        if handed_on:
            visible_after += len(update.visible)
        handed_on.extend((when, p) for p in update.ended)
        when += dt.timedelta(seconds=0.1)
    assert len(handed_on) == 1 and tracker.active == 1  # handed on while the person still stands there
    at, person = handed_on[0]
    assert person.direction == "in"
    assert START + dt.timedelta(seconds=1) < person.observed_at < START + dt.timedelta(seconds=2)  # the crossing
    assert dt.timedelta(seconds=60) <= at - person.observed_at < dt.timedelta(seconds=60.2)
    assert visible_after == 0  # no more features are sampled for a track whose pass has left
    passes, discarded = tracker.finish()
    assert passes == [] and discarded == []  # and it never yields a second pass


def test_expire_alone_ends_tracks_while_no_frame_arrives() -> None:
    """A stalled live stream: the service ticks the tracker with the clock, so passes still leave in time."""
    tracker = Tracker(TrackingSettings(), None, pass_deadline_seconds=60)
    when = START
    for box in walk(100, 300, 300, 300, 10):
        tracker.update(np.array([box]), when, FRAME)
        when += dt.timedelta(seconds=0.1)
    assert tracker.expire(when) == ([], [])
    passes, discarded = tracker.expire(when + dt.timedelta(seconds=1.5))
    assert [p.direction for p in passes] == ["unknown"] and discarded == [] and tracker.active == 0
