"""The settings of this tab's next run: the Train page's controls (``ui.settings_form``), the
config last read from them, the preset they started from, and the link that reproduces them.

The settings come from the URL on a first visit and whenever the URL holds other params than
the ones the page last wrote (a pasted link); afterwards the controls are the truth and the URL
follows them (:meth:`NextRun.link_params`).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from bnn.analysis.diagnosis import apply_fixes
from bnn.config.links import ECHO_CHARS, read_query_params, to_query_params
from bnn.config.model_settings import LayerConfig
from bnn.config.presets import PRESETS
from bnn.config.schema import RunConfig
from ui import keys
from ui import settings_form as form
from ui.names import as_code, capped

MAX_NOTE_CHARS = 200  # a refusal is one short sentence; a link's value is quoted in it up to links.ECHO_CHARS

ARCHITECTURES = ("MLP", "small CNN")
CNN_STEM = PRESETS["best"].model.layers[:2]
DEFAULT_PRESET = "fast"


class NextRun:
    """The next run's settings kept in ``state`` (``st.session_state``); its methods without
    arguments double as the settings widgets' callbacks."""

    def __init__(self, state: MutableMapping) -> None:
        self.state = state

    def follow_link(self, params: Mapping[str, str]) -> bool:
        """Take the link's settings on a first visit or a new link (True then), else keep the
        controls; either way every control has a value afterwards."""
        state = self.state
        new_link = keys.TRAIN_CONFIG not in state or bool(params and params != state.get(keys.TRAIN_LINK))
        if new_link:
            state[keys.TRAIN_PRESET], config = self._from_link(params)
            self.set(config)
        form.fill_missing_controls(state, state[keys.TRAIN_CONFIG])
        # the preset selectbox's state is dropped while the settings are folded: keep the choice apart
        state[keys.TRAIN_PRESET] = state.get(keys.TRAIN_PRESET) or state.get(keys.TRAIN_PRESET_CHOSEN, DEFAULT_PRESET)
        state[keys.TRAIN_PRESET_CHOSEN] = state[keys.TRAIN_PRESET]
        state.setdefault(keys.TRAIN_ARCHITECTURE, ARCHITECTURES[state[keys.TRAIN_CONFIG].model.is_cnn])
        return new_link

    def _from_link(self, params: Mapping[str, str]) -> tuple[str, RunConfig]:
        """The link's preset and settings; every value that cannot be used is named in one notice
        and the others are kept."""
        name = params.get(keys.PRESET_PARAM, DEFAULT_PRESET)
        notes = []
        if name not in PRESETS:
            notes.append(f"unknown preset {capped(name, ECHO_CHARS)!r}, showing {DEFAULT_PRESET}")
            name = DEFAULT_PRESET
        config, problems = read_query_params(params, PRESETS[name])
        notes += problems
        if notes:
            self.notify(
                "Some of the link's settings could not be used and were left as they were: "
                + "; ".join(as_code(note, MAX_NOTE_CHARS) for note in notes)
            )
        return name, config

    @property
    def preset(self) -> str:
        return self.state[keys.TRAIN_PRESET]

    @property
    def architecture(self) -> str:
        return self.state[keys.TRAIN_ARCHITECTURE]

    @property
    def last_read(self) -> RunConfig:
        """The settings as read at the end of the last page run (the controls may be folded now)."""
        return self.state[keys.TRAIN_CONFIG]

    def config(self) -> RunConfig:
        """The settings as the controls hold them now."""
        return form.config_from_controls(self.state, self.state[keys.TRAIN_CONFIG])

    def set(self, config: RunConfig) -> None:
        form.write_controls(self.state, config)
        self.state[keys.TRAIN_ARCHITECTURE] = ARCHITECTURES[config.model.is_cnn]
        self.state[keys.TRAIN_CONFIG] = config

    def label(self) -> str:
        """The chosen preset's name, or "custom (from NAME)" once its settings are edited. (Not the
        selectbox's own option labels: the browser sends the label back, and a label that changed
        between two runs would no longer match its option.)"""
        return f"custom (from {self.preset})" if self.config() != PRESETS[self.preset] else self.preset

    def on_preset(self) -> None:
        self.set(PRESETS[self.preset])
        self.state.pop(keys.TRAIN_FIXES_OF, None)

    def on_architecture(self) -> None:
        config = self.config()
        dense = tuple(layer for layer in config.model.layers if layer.kind == "dense")
        layers = (CNN_STEM + dense) if self.architecture == "small CNN" else dense
        self.set(config.replace_model(layers=layers))

    def add_layer(self) -> None:
        config = self.config()
        layers = list(config.model.layers)
        hidden = [layer for layer in layers[:-1] if layer.kind == "dense"]
        template = hidden[-1] if hidden else LayerConfig(256)
        self.set(config.replace_model(layers=tuple(layers[:-1]) + (template, layers[-1])))

    def remove_layer(self, index: int) -> None:
        config = self.config()
        self.set(config.replace_model(layers=tuple(l for i, l in enumerate(config.model.layers) if i != index)))

    def apply_fixes(self, fixes: list, label: str, run_name: str) -> None:
        self.set(apply_fixes(self.config(), fixes))
        self.state[keys.TRAIN_FIXES_OF] = run_name  # the next run is compared with the run it fixes
        self.notify(f"Applied: {label}. Press **Start** to train with the new settings.")

    def take_fixes_of(self) -> str | None:
        """The run these settings fix, once: the run started from them takes it."""
        return self.state.pop(keys.TRAIN_FIXES_OF, None)

    def notify(self, text: str) -> None:
        self.state[keys.TRAIN_NOTICE] = text

    def link_params(self, run_name: str | None) -> dict[str, str]:
        """Keep the settings as the controls hold them and return the URL params that reproduce
        them, naming the run the tab shows."""
        config = self.state[keys.TRAIN_CONFIG] = self.config()
        params = {keys.PRESET_PARAM: self.preset, **to_query_params(config)}
        if run_name is not None:
            params[keys.RUN_PARAM] = run_name
        self.state[keys.TRAIN_LINK] = params
        return params
