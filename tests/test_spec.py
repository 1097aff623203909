"""bnn.config.spec: what one setting accepts and how it says why a value is refused."""

from __future__ import annotations

from bnn.config.spec import Setting


def _typed(kind: type, **details) -> Setting:
    return Setting("k", "Knob", kind=kind, **details)


def test_a_value_of_the_wrong_kind_is_refused_in_words():
    assert _typed(int).problem(3) is None
    assert _typed(int).problem(True) == "Knob must be a whole number, got True"
    assert _typed(float).problem(float("nan")) == "Knob must be a finite number, got nan"
    assert _typed(bool).problem(1) == "Knob must be on or off, got 1"
    assert _typed(str, choices=("a", "b")).problem("c") == "Knob must be one of a, b, got 'c'"


def test_the_range_with_open_and_closed_ends():
    unit = _typed(float, low=0.0, high=1.0, high_open=True)
    assert unit.range_text() == "in [0, 1)"
    assert unit.problem(0.0) is None and unit.problem(1.0) == "Knob must be in [0, 1), got 1.0"
    positive = _typed(float, low=0.0, low_open=True)
    assert positive.range_text() == "> 0" and positive.problem(0.0) == "Knob must be > 0, got 0.0"
    assert _typed(int, high=60_000).range_text() == "<= 60,000"
