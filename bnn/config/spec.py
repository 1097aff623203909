"""One settings field described once: a :class:`Setting` holds its URL key, label, help text (with
the paper's term: Courbariaux et al. 2016, arXiv:1602.02830) and the values it accepts.

A field of the settings schema (:mod:`bnn.config.schema`) declares its setting as dataclass metadata,
``field(default=..., metadata=setting("lr", "Learning rate", ...))``; the registry of them,
:data:`bnn.config.schema.SETTINGS`, fills in the field's section, name and type. :meth:`Setting.problem`
says in words why a value is not allowed, the one rule the link codec (:mod:`bnn.config.links`),
:func:`bnn.config.schema.validate` and the Train page's controls share.

Plain Python, no PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Setting:
    """Everything said about one settings field, once: its URL key, its label and help text, and
    the values it accepts. The URL encoding, the Train page's controls, :func:`bnn.config.schema.validate`
    and the Compare page's columns are all derived from these (see :data:`bnn.config.schema.SETTINGS`)."""

    key: str  # short URL query param
    label: str  # control label and Compare column
    help: str = ""  # one line: what it does, with the paper's term
    choices: tuple[str, ...] = ()  # allowed values of a text field, in display order
    choice_labels: Mapping[str, str] = field(default_factory=dict)  # shown instead of a choice
    low: float | None = None  # smallest allowed value
    high: float | None = None  # largest allowed value
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False  # high itself is not allowed
    step: float | None = None  # control step
    log: bool = False  # chosen on a log-spaced ladder (learning rates)
    applies: Callable[[Any], bool] | None = None  # None: always; else only when this is true
    section: str = ""  # "input", "model" or "train": filled in by the registry
    name: str = ""  # dataclass field name: filled in by the registry
    kind: type = object  # bool, int, float or str: filled in by the registry

    def applies_to(self, config: Any) -> bool:  # a bnn.config.schema.RunConfig
        return self.applies is None or self.applies(config)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed here, or None."""
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"{self.label} must be {self.kind_words}, got {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.label} must be one of {', '.join(self.choices)}, got {value!r}"
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            return f"{self.label} must be {self.range_text()}, got {value!r}"
        return None

    @property
    def kind_words(self) -> str:
        """What a value of this field is, in words: "a whole number", "on or off" ..."""
        return _KIND_WORDS[self.kind]

    def range_text(self) -> str:
        """``in [0, 1)``, ``> 0``, ``at least 1`` ..."""
        if self.low is not None and self.high is not None:
            return (
                f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
            )
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        return f"{'<' if self.high_open else '<='} {_num(self.high)}"


_KIND_WORDS = {bool: "on or off", int: "a whole number", float: "a finite number", str: "text"}


def _num(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() and abs(value) >= 10_000 else f"{value:g}"


def setting(key: str, label: str, **details: Any) -> dict[str, Setting]:
    """Metadata for a dataclass field: ``field(default=..., metadata=setting("lr", "Learning rate", ...))``."""
    return {"setting": Setting(key, label, **details)}
