"""Plotly figure builders for the BNN Playground pages, by subject.

Every builder returns a ``plotly.graph_objects.Figure`` and never imports Streamlit; the pages
call ``st.plotly_chart(fig, theme="streamlit")``: the figures set layout and data colours only
(:mod:`.common`), so the paper, text and grid follow the app's light or dark theme, and Plotly's
default template in a notebook. Callers use ``from bnn import plots; plots.weight_grid(...)``.
Notes on how the figures were tuned: ``docs/plots.md``.
"""

from .common import (
    BINARY,
    DIVERGING,
    FLOAT_COLOR,
    HIGHLIGHT_COLOR,
    IMAGE_MARGIN,
    INK,
    LAYOUT,
    LEGEND_MARGIN,
    MINUS_COLOR,
    MUTED_COLOR,
    PALETTE,
    PLUS_COLOR,
    SEQUENTIAL,
    WINDOW_COLOR,
    ZERO_COLOR,
)
from .concepts import ste_figure, xnor_walkthrough
from .distributions import confusion_figure, histogram, probability_bars
from .images import (
    activation_grid,
    activation_groups,
    activations_row,
    digit_image,
    image_gallery,
    network_path,
    weight_grid,
)
from .model_size import size_bars
from .pareto import study_chart
from .training import (
    SelectorSafeFigure,
    flip_rate_lines,
    flip_rate_series,
    live_training_figure,
    live_training_series,
    metric_lines,
    run_figure,
    run_overlay,
    selector_safe,
    thin_records,
    training_curve_series,
)

__all__ = [
    "BINARY",
    "SelectorSafeFigure",
    "DIVERGING",
    "FLOAT_COLOR",
    "HIGHLIGHT_COLOR",
    "IMAGE_MARGIN",
    "INK",
    "LAYOUT",
    "LEGEND_MARGIN",
    "MINUS_COLOR",
    "MUTED_COLOR",
    "PALETTE",
    "PLUS_COLOR",
    "SEQUENTIAL",
    "WINDOW_COLOR",
    "ZERO_COLOR",
    "activation_grid",
    "activation_groups",
    "confusion_figure",
    "digit_image",
    "flip_rate_lines",
    "flip_rate_series",
    "histogram",
    "image_gallery",
    "live_training_figure",
    "run_figure",
    "activations_row",
    "live_training_series",
    "metric_lines",
    "network_path",
    "probability_bars",
    "run_overlay",
    "selector_safe",
    "size_bars",
    "study_chart",
    "ste_figure",
    "thin_records",
    "training_curve_series",
    "weight_grid",
    "xnor_walkthrough",
]
