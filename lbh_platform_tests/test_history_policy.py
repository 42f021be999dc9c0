"""When a history compacts: recent segments grow geometrically (a minor compaction takes the
newest ones while they are at most twice what it merges), a major one runs once the rows since
the base reach a share of it, and a rebuild cuts closed segments of about a set size."""

from lbh_platform.history.segments import Policy, Segment, State, closed_cuts


def segment(name: str, rows: int) -> Segment:
    return Segment(name, {}, rows)


def test_a_minor_compaction_takes_the_newest_recent_segments_while_they_are_small():
    state = State(
        [
            segment("base-20240101-aaaaaaaa", 1000),
            segment("recent-20240102-20240120-bbbbbbbb", 100),
            segment("recent-20240121-20240130-cccccccc", 40),
            segment("recent-20240131-20240205-dddddddd", 10),
            *[segment(f"day-202402{d:02d}", 2) for d in range(6, 10)],
        ]
    )
    policy = Policy(max_days=3, open_share=0.25)
    assert policy.minor_due(state)
    names = [s.name for s in policy.minor_inputs(state)]
    assert names[0] == "recent-20240131-20240205-dddddddd"  # 10 <= 2 x 8; then 40 > 2 x 18
    assert names[1:] == [f"day-202402{d:02d}" for d in range(6, 10)]
    assert not policy.major_due(state)  # 158 rows since the base < 250
    state.segments.append(segment("day-20240210", 100))
    assert policy.major_due(state)


def test_closed_cuts_are_consecutive_ranges_of_about_the_target():
    counts = {"20240102": 5, "20240103": 5, "20240105": 5, "20240109": 1}
    assert closed_cuts(counts, 10) == [("00000000", "20240103"), ("20240103", "20240109")]
    assert closed_cuts({}, 10) == []
