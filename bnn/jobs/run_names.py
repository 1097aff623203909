"""What a run may be called: :func:`name_problem` (why a name cannot name a run), :func:`unique_name`
(a name no run training or saved has), :func:`slugify` (its folder's name)."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection
from pathlib import Path

MAX_NAME_CHARS = 120  # a name someone types (Rename, the CLI's --name); the app's own are shorter


MAX_STORED_NAME_CHARS = 1000  # a meta.json name longer than this is not a run's (crafted): refused


class RunNameError(ValueError):
    """A name a run cannot take; the message says why, in one sentence."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run (None when it can): empty, longer than
    :data:`MAX_NAME_CHARS`, or holding control or format characters (newlines, bidi overrides)."""
    if not name.strip():
        return "a run needs a name"
    if len(name) > MAX_NAME_CHARS:
        return f"a run's name has at most {MAX_NAME_CHARS} characters, this one {len(name):,}"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "a run's name cannot hold control characters (newlines, tabs, direction marks)"
    return None


def unique_name(name: str, directory: str | os.PathLike, taken: Collection[str] = ()) -> str:
    """``name``, or ``name-2``, ``name-3`` ...: the first that is not in ``taken`` (names of runs
    training or saved) and whose folder :func:`slugify` gives is free in ``directory``."""
    parent, candidate, count = Path(directory), name, 1
    while candidate in taken or slugify(candidate) in taken or os.path.lexists(parent / slugify(candidate)):
        count += 1
        candidate = f"{name}-{count}"
    return candidate


def slugify(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return slug[:80] or "run"
