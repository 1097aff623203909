"""A run's settings as URL query params, so a copied link reproduces a run.

Like TensorFlow Playground's ``state.ts``, every scalar setting is one short param, its key and
its rules taken from the settings table (:data:`bnn.config.schema.SETTINGS`): ``lr=0.01&ep=3&...``.
The layers are one param, ``layers``, of tokens joined by ``_``, input to output. A layer token
is ``<d|c><units>[k<kernel>][p]-<flags>-<dropout>``: ``d`` dense or ``c`` conv (``k`` its kernel
size, ``p`` a 2x2 max-pool), flags from ``w`` (binarize weights), ``a`` (binarize activations),
``b`` (BatchNorm); e.g. ``d1024-wab-0`` or ``c32k3p-wab-0.1``.

A link is untrusted input: :func:`read_query_params` checks every value with its field's rules
and names each one it refuses, quoting at most :data:`ECHO_CHARS` of it; a value longer than
:data:`MAX_PARAM_CHARS` is refused unread (a link of every setting is ~400 characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model_settings import LayerConfig
from .schema import (
    LAYER_SETTINGS,
    MAX_LAYERS,
    SETTINGS,
    SETTINGS_BY_KEY,
    ConfigError,
    RunConfig,
    layer_problems,
    setting_value,
    with_settings,
)
from .spec import Setting

LAYERS_KEY = "layers"  # URL key of the layer tokens
# the longest value a real link holds: 12 layer tokens of at most ~25 characters ("c1024k7p-wab-0.125")
MAX_PARAM_CHARS = 400
ECHO_CHARS = 40  # a refused value is quoted up to this many characters in its message


def _quoted(text: str) -> str:
    """``text`` as a refusal quotes it: its repr, cut to :data:`ECHO_CHARS` characters."""
    return f"{text[:ECHO_CHARS]!r}" + ("…" if len(text) > ECHO_CHARS else "")


def too_long(key: str, text: str) -> str | None:
    """The refusal of a link value longer than :data:`MAX_PARAM_CHARS`, else None."""
    if len(text) <= MAX_PARAM_CHARS:
        return None
    return f"{key}: {len(text):,} characters, more than a link's {MAX_PARAM_CHARS}: ignored"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse_value(text: str, setting: Setting) -> Any:
    """The typed value of a query param (ValueError if it is not of the field's type)."""
    if setting.kind is bool:
        if text not in ("0", "1", "true", "false"):
            raise ValueError
        return text in ("1", "true")
    if setting.kind is int:
        return int(text)
    if setting.kind is float:
        return float(text)
    return text


def layer_token(layer: LayerConfig) -> str:
    """``d1024-wab-0.0``, ``c32k3p-wab-0.1``: see the module's docstring."""
    head = ("c" if layer.kind == "conv" else "d") + str(layer.units)
    if layer.kind == "conv":
        head += f"k{layer.kernel_size}" + ("p" if layer.pool else "")
    flags = "".join(
        LAYER_SETTINGS[name].key
        for name in ("binarize_weights", "binarize_activations", "batch_norm")
        if getattr(layer, name)
    )
    return f"{head}-{flags}-{_format_value(float(layer.dropout))}"


def parse_layer_token(token: str) -> LayerConfig:
    try:
        head, flags, dropout = token.split("-")
        kind = {"d": "dense", "c": "conv"}[head[0]]
        rest = head[1:]
        pool = rest.endswith("p")
        rest = rest.rstrip("p")
        units_text, _, kernel_text = rest.partition("k")
        if set(flags) - set("wab"):
            raise ValueError(flags)
        return LayerConfig(
            units=int(units_text),
            kind=kind,
            kernel_size=int(kernel_text) if kernel_text else 3,
            pool=pool,
            binarize_weights="w" in flags,
            binarize_activations="a" in flags,
            batch_norm="b" in flags,
            dropout=float(dropout),
        )
    except (ValueError, KeyError, IndexError):
        raise ConfigError(f"layer {_quoted(token)} is not of the form d1024-wab-0 or c32k3p-wab-0") from None


def to_query_params(config: RunConfig) -> dict[str, str]:
    params = {s.key: _format_value(setting_value(config, s)) for s in SETTINGS}
    params[LAYERS_KEY] = "_".join(layer_token(layer) for layer in config.model.layers)
    return params


def read_query_params(params: Mapping[str, Any], base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:
    """The config of a link, and every value of it that was refused, each named in a message.

    Each param is checked alone with its field's rules (:class:`Setting`); a refused value keeps
    ``base``'s, the others still apply. Missing params keep ``base``'s values; unknown ones are
    ignored. Layers are all or nothing, and more than ``MAX_LAYERS`` are refused unparsed.
    """
    base = base or RunConfig()
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, setting in SETTINGS_BY_KEY.items():
        if key not in params:
            continue
        text = str(params[key])
        if refused := too_long(key, text):
            problems.append(refused)
            continue
        try:
            value = _parse_value(text, setting)
        except ValueError:
            problems.append(f"{key}={_quoted(text)}: {setting.label} must be {setting.kind_words}")
            continue
        problem = setting.problem(value)
        if problem:  # it quotes the value too: cut short
            problems.append(f"{key}={_quoted(text)}: {problem[: 3 * ECHO_CHARS]}")
        else:
            values[setting.name] = value
    config = with_settings(base, values)
    if params.get(LAYERS_KEY) and (refused := too_long(LAYERS_KEY, str(params[LAYERS_KEY]))):
        problems.append(refused)
    elif params.get(LAYERS_KEY):
        layers, layer_problems = _read_layers(str(params[LAYERS_KEY]))
        problems += layer_problems
        if not layer_problems:
            config = config.replace_model(layers=layers)
    return config, problems


def _read_layers(text: str) -> tuple[tuple[LayerConfig, ...], list[str]]:
    tokens = text.split("_")
    if len(tokens) > MAX_LAYERS:
        return (), [f"layers: {len(tokens)} layers, at most {MAX_LAYERS}"]
    try:
        layers = tuple(parse_layer_token(token) for token in tokens)
    except ConfigError as exc:
        return (), [f"layers: {exc}"]
    problems = [f"layers: {problem}" for problem in layer_problems(layers)]
    return layers, problems


def from_query_params(params: Mapping[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Read the params written by :func:`to_query_params`; missing keys keep ``base``'s values.
    Raises :class:`ConfigError` naming every refused value (see :func:`read_query_params`)."""
    config, problems = read_query_params(params, base)
    if problems:
        raise ConfigError("; ".join(problems))
    return config
