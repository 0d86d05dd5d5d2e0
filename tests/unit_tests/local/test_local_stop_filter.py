"""Stop sequences are cut out of streamed text, even when split across tokens."""

from __future__ import annotations

from openmux.local._generation import _StopFilter


def _run(pieces: list[str], stops: list[str]) -> tuple[str, bool]:
    f = _StopFilter(stops)
    out = ""
    for piece in pieces:
        text, hit = f.feed(piece)
        out += text
        if hit:
            return out, True
    return out + f.flush(), False


def test_no_stops_passes_everything_through() -> None:
    assert _run(["a", "b", "c"], []) == ("abc", False)


def test_stop_inside_one_piece() -> None:
    assert _run(["Hello END tail"], ["END"]) == ("Hello ", True)


def test_stop_split_across_pieces_is_held_back_then_cut() -> None:
    f = _StopFilter(["<END>"])
    assert f.feed("Hi <E") == ("Hi ", False)
    assert f.feed("N") == ("", False)
    assert f.feed("D> more") == ("", True)


def test_held_text_is_released_when_it_is_not_a_stop() -> None:
    assert _run(["Hi <E", "X then"], ["<END>"]) == ("Hi <EX then", False)


def test_earliest_of_several_stops_wins() -> None:
    assert _run(["one two three"], ["three", "two"]) == ("one ", True)


def test_flush_returns_a_held_partial_stop_at_the_end() -> None:
    assert _run(["ends with <E"], ["<END>"]) == ("ends with <E", False)
