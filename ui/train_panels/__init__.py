"""The panels of the Train page (``app_pages/train.py``), top to bottom:

* :mod:`.run_bar`: Start, Pause/Resume, Stop, Test now, and which run the tab shows;
* :mod:`.live_view`: the run's progress, ETA and live chart, polled while it trains;
* :mod:`.live_knobs`: "Change while it trains" (learning rate, optimizer, per-layer binarization);
* :mod:`.diagnosis`: after the run, make it active and read its findings with their fixes;
* :mod:`.settings`: the settings form for the next run.

Each takes what it shows as arguments (the job, its snapshot, the next run's settings,
:class:`.next_run.NextRun`); the keys they share with other pages are in :mod:`ui.keys`.
"""
