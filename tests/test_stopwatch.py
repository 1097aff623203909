"""bnn.analysis.stopwatch.median_ms: the functions take turns, ``block`` calls each, and every call is timed."""

from __future__ import annotations

from bnn.analysis.stopwatch import median_ms


def test_functions_take_turns_in_blocks():
    calls: list[str] = []
    result = median_ms({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=5, warmup=1, block=2)
    assert calls == ["a", "b"] + ["a", "a", "b", "b", "a", "a", "b", "b", "a", "b"]
    assert set(result) == {"a", "b"} and all(ms >= 0 for ms in result.values())


def test_block_of_one_alternates_call_by_call():
    calls: list[str] = []
    median_ms({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=3, warmup=0)
    assert calls == ["a", "b"] * 3
