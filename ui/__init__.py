"""The Streamlit side of BNN Playground: what the pages share, and nothing they do not.

* :mod:`ui.state` — the app's process-wide state (training jobs, the active model), MNIST and
  the run folders, and the per-tab drawing.
* :mod:`ui.frame` — the setup every page gets from ``app.py``: page config, the sidebar card,
  saving runs that ended.
* :mod:`ui.settings_form` — the Train page's controls, derived from ``bnn.config.schema.SETTINGS``.
* :mod:`ui.live_chart` — a Plotly chart that redraws in place while a run trains.
* :mod:`ui.widgets` — the drawing canvas.

Pages read widgets, call :mod:`bnn`, and render; :mod:`bnn` knows nothing of Streamlit.
"""
