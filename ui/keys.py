"""The session-state keys and URL query params that more than one page or module reads or writes.

Streamlit drops a widget's state when its page is left, so what must outlive a page switch (or
reach another page) lives under a plain ``st.session_state`` key or in the URL. Each constant
below says which pages write and read it, so the writer and the readers agree by construction.
Keys used by a single module (a widget of one page, a cache of one panel) stay in that module.
The run's own settings are URL params too: their names are the settings registry's
(``bnn.config.links.to_query_params``).
"""

TRAIN_RUN = "tr_run"
"""The run this tab started or shows: its key in ``ui.state.app_state().jobs`` (its folder in the
runs folder, ``ui.state.job_key``; for a new run the same text as its name).
Written by Train (Start, its run picker, a link's :data:`RUN_PARAM`) and Compare (Resume
training); read by Train and by the run picker of Draw, Inspect and Efficiency
(``ui.model_picker``: the default while that run trains)."""

PICKED_RUN = "picked_run"
"""The network this tab explicitly picked (a key of ``ui.model_picker.options``). Written and read
by the run picker of Draw, Inspect and Efficiency, so the choice follows the tab across them."""

ACTIVE_RUN = "active_run"
"""On a shared server (``ui.access``), the run this session made active (a ``bnn.jobs.run.Run`` with its
weights in memory); elsewhere the active run is the server's. Written by Train ("Make active",
``ui.state.activate``); read through ``ui.state.activated`` by every page's sidebar and the run
picker of Draw, Inspect and Efficiency."""

LAST_DRAWING = "last_drawing28"
"""The Draw page's current drawing as the model saw it, a (28, 28) tensor. Written by Draw
(``ui.state.remember_drawing``); read by Efficiency (``ui.state.last_drawing``)."""

EFFICIENCY_SOURCE = "eff_source"
"""Efficiency's timed input, "Your drawing" or "Test image" (its radio's key, reset when the
drawing from Draw is gone). Written and read by Efficiency."""

EFFICIENCY_TEST_INDEX = "eff_test_index"
"""The test image Efficiency times; starts at the first. Written and read by Efficiency."""

TRAIN_CONFIG = "tr_cfg"
"""The Train page's settings for the next run, a ``bnn.config.schema.RunConfig`` (its controls' values
as last read). Written and read by Train (``ui.train_panels.next_run``)."""

TRAIN_PRESET = "tr_preset"
"""The preset chosen on Train (its selectbox's key). Written and read by Train's settings panel
and run bar (the new run's name)."""

TRAIN_PRESET_CHOSEN = "tr_preset_chosen"
"""A copy of :data:`TRAIN_PRESET` that survives while the settings are folded (the selectbox's
own state is dropped then). Written and read by Train."""

TRAIN_ARCHITECTURE = "tr_arch"
""""MLP" or "small CNN" (Train's architecture radio). Written and read by Train."""

TRAIN_FIXES_OF = "tr_fixes_of"
"""The run whose diagnosis fixes were applied to the settings: the next run started from them
is saved as fixing it. Written by Train's diagnosis; read by its run bar (Start)."""

TRAIN_NOTICE = "tr_notice"
"""A one-time message for the Train page (a link's unusable values, an applied fix, a refused
live edit), shown once under the chart. Written by Train's panels; read by its page script."""

TRAIN_START_PROBLEMS = "tr_start_problems"
"""Why the last Start was refused (a list of sentences), shown once under the run bar. Written by
Start's callback; read by Train's page script."""

TRAIN_START_IN_PAGE = "tr_start_in_page"
"""Start was pressed but MNIST has to be downloaded or its files are unreadable: the page starts
the run itself, where it can show the download or the error. Written by Start's callback; read by
Train's page script."""

TRAIN_LINK = "tr_url"
"""The URL params Train last wrote: other params in the URL are a new link to follow.
Written and read by Train."""

PRESET_PARAM = "preset"
"""URL param: the preset the Train page starts from. Written by Home (its link to the `seed`
replay) and Train; read by Train."""

RUN_PARAM = "run"
"""URL param: the run the Train page shows (its :data:`TRAIN_RUN` key), so that a reload shows the
same run. Written and read by Train."""

STUDY_BASE = "study_base"
"""The base of the next study, ``(label, RunConfig)``: the Train page's settings. Written by Train's
"Study this configuration" (``ui.train_panels.settings_panel``); read by Study."""

STUDY_FOLDER = "study_folder"
"""The study folder this tab shows (text). Written and read by Study."""

COMPARE_PICK = "cmp_pick"
"""Run names Compare shows chosen on its next visit (then forgotten). Written by Study ("Open in
Compare"); read by Compare."""
