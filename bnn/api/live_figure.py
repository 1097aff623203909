"""A run's chart that updates in Jupyter while it trains: ``bnn.train(..., live=True)``.

A Plotly ``FigureWidget`` (an anywidget) shows :meth:`bnn.api.RunHandle.figure`, the Train
page's chart; every ``interval`` seconds at most, and only when the run has new records,
evaluations, edits or a new status, its lines are replaced in one batched message. Throttled
so, as the Train page: building the series takes milliseconds of the GIL the training thread
needs, and the browser redraws at most once per interval (``benchmarks/notebook_live.py``
measures the training speed with and without it). A new line (the first test evaluation, a
NaN loss) or a live edit (dotted line, labelled as on the Train page) rebuilds the figure.
The run's card (its table: status, epoch, test accuracy, edits) is drawn under the figure and
updated with it.
"""

from __future__ import annotations

import threading
from typing import Any

INTERVAL_S = 1.0  # at most one update per second
FIT_UPDATES = 3  # updates after a (re)drawing that ask the page to fit the chart to its cell


class LiveFigure:
    def __init__(self, handle: Any, interval: float = INTERVAL_S) -> None:
        try:
            import ipywidgets
            import plotly.graph_objects as go

            self.widget = go.FigureWidget(handle.figure())
            self.widget.layout.autosize = True  # as wide as the cell, as a static figure (see _fit_width)
            self.widget._config = {**self.widget._config, "responsive": True}
            self.card = ipywidgets.HTML(handle._repr_html_())
            self.view = ipywidgets.VBox([self.widget, self.card], layout=ipywidgets.Layout(width="100%"))
        except ImportError as exc:
            raise ImportError(f"live=True needs ipywidgets and anywidget in the kernel ({exc})") from None
        self.handle = handle
        self.interval = interval
        self.following = False
        self.updates = 0
        self._shown: tuple | None = None
        self._shape: tuple | None = None
        self._lines: list = []  # the traces drawn as lines (not those with markers)
        self._fitted = 0  # width fits asked since the figure was last drawn anew
        self._lock = threading.Lock()

    def show(self) -> None:
        from IPython.display import display

        display(self.view)

    def _state(self, run) -> tuple:
        return (len(run.records), len(run.evals), len(run.edits), run.status)

    def refresh(self) -> bool:
        """Bring the figure up to the run (True if it changed)."""
        from .. import plots

        with self._lock:
            run = self.handle.run
            state = self._state(run)
            if state == self._shown:
                return False
            series = plots.live_training_series(run.records, run.evals)
            shape = (tuple(series), len(run.edits), run.ended)
            if shape != self._shape:
                figure = self.handle.figure()
                with self.widget.batch_update():
                    self.widget.data = ()
                    self.widget.add_traces(figure.data)  # in the order of the series (the widget sets its own uids)
                    self.widget.layout = figure.layout
                    self.widget.layout.autosize = True
                self._lines = [trace for trace in self.widget.data if trace.mode == "lines"]
                self._shape, self._fitted = shape, 0
            else:
                with self.widget.batch_update():
                    for trace, (xs, ys) in zip(self.widget.data, series.values()):
                        trace.x, trace.y = xs, ys
            with self.widget.batch_update():  # a line of one point shows nothing: a marker until it has two
                for trace in self._lines:
                    trace.mode = "lines" if len(trace.x) > 1 else "lines+markers"
            self._fit_width()
            self.card.value = self.handle._repr_html_()
            self._shown = state
            self.updates += 1
            return True

    def _fit_width(self) -> None:
        """Ask the page to size the chart to its cell (Plotly's autosize), at the first updates
        after it was drawn: the widget draws it before its cell is on the page, at Plotly's
        default 700 px, and Plotly resizes it only when the window is resized."""
        if self._fitted < FIT_UPDATES:
            self._fitted += 1
            self.widget._send_relayout_msg({"autosize": True})  # the height stays: its element keeps it

    def follow(self, timeout: float | None = None) -> None:
        """Refresh until the run has ended (in this thread)."""
        import time

        job = self.handle._job
        self.following = True
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                self.refresh()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{self.handle.name} is still training")
                try:
                    job.wait_until(lambda run: run.ended, self.interval if left is None else min(self.interval, left))
                    break
                except TimeoutError:
                    continue
            self.refresh()
        finally:
            self.following = False

    def follow_in_background(self) -> None:
        """Refresh from a daemon thread until the run has ended (the cell returns at once)."""
        thread = threading.Thread(target=self.follow, name=f"bnn-live-{self.handle.name}", daemon=True)
        self.following = True
        thread.start()
