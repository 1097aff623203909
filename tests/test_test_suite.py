"""The test suite itself: tests wait for the event they need, with a timeout as the upper bound,
never for a fixed time (``time.sleep``, Playwright's ``page.wait_for_timeout``), so they measure
behaviour, not the clock (issue 19)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def sleeps(source: str) -> list[int]:
    """Lines of ``source`` that sleep: ``time.sleep(...)`` (also through ``import time as t`` or
    ``from time import sleep``) and ``<anything>.wait_for_timeout(...)``."""
    tree = ast.parse(source)
    time_modules, sleep_names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            time_modules |= {alias.asname or alias.name for alias in node.names if alias.name == "time"}
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            sleep_names |= {alias.asname or alias.name for alias in node.names if alias.name == "sleep"}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        if isinstance(called, ast.Name) and called.id in sleep_names:
            lines.append(node.lineno)
        elif isinstance(called, ast.Attribute) and (
            called.attr == "wait_for_timeout"
            or (called.attr == "sleep" and isinstance(called.value, ast.Name) and called.value.id in time_modules)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_sleeps_are_found_in_every_spelling():
    source = """
import time
import time as clock
from time import sleep, sleep as pause
import asyncio
time.sleep(1)
clock.sleep(1)
sleep(1)
pause(1)
page.wait_for_timeout(500)
asyncio.sleep(1)
event.wait(timeout=1)
time.monotonic()
"""
    assert sleeps(source) == [6, 7, 8, 9, 10]


def test_no_test_module_sleeps():
    found = {
        path.name: lines for path in sorted(TESTS.glob("*.py")) if (lines := sleeps(path.read_text(encoding="utf-8")))
    }
    assert not found, f"sleeps used to wait (wait for the event, with a timeout as the bound): {found}"
