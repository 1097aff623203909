"""Who may control a run, and what a session may start, on a server shared by strangers.

Outside shared mode everything is allowed, as on one person's laptop. In shared mode
(``streamlit run app.py -- --shared`` or ``BNN_SHARED=1``) each browser session owns the runs it
starts: it holds an unguessable owner key (:func:`secrets.token_urlsafe`) in its tab's URL
(``?owner=...``), so a reload or a bookmark of the tab gets its controls back, and a run keeps the
key's hash (:attr:`bnn.jobs.run.Run.owner`, saved in its ``meta.json``), so ownership outlives a server
restart while the folder does not reveal the key. Every other session may watch the run (charts,
Draw, Inspect, Compare) but not pause, stop, test, edit, rename, delete or resume it: every
callback for a run asks :func:`require_owner` on the server, so a forged widget event changes
nothing; a refusal is shown and logged.

Limits of a shared server, each an option after ``--`` or an environment variable (:data:`LIMITS`),
named when hit: runs training and runs queued per session, the widest layer, the number of layers,
parameters and epochs of a run a session may start, and the disk the runs folder may use (new
runs are refused when it is full; no run is ever deleted to make room).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import streamlit as st

from bnn.config.schema import RunConfig
from bnn.jobs.run import Run, Status
from bnn.jobs.run_listing import scan_runs
from bnn.jobs.run_slots import RunSlots
from bnn.jobs.start_rules import LIMIT_WHAT, RunLimits, limit_problems
from bnn.jobs.studies import Study
from ui.names import shown

log = logging.getLogger("bnn.access")

SHARED_ENV = "BNN_SHARED"
OWNER_PARAM = "owner"
OWNER_KEY = "owner_key"  # session state: this session's owner key
NOTICE_KEY = "access_notice"  # session state: the last refusal, shown once by ui.frame
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,64}")  # token_urlsafe(16) and longer: not guessable


@dataclass(frozen=True)
class Limit:
    option: str  # after `streamlit run app.py --`
    env: str
    default: int
    what: str  # named in the refusal


LIMITS = {
    "session_runs": Limit("--session-runs", "BNN_SESSION_RUNS", 1, "runs training per session"),
    "session_queued": Limit("--session-queued", "BNN_SESSION_QUEUED", 1, "waiting in the queue"),
    "max_queued": Limit("--max-queued", "BNN_MAX_QUEUED", 16, "runs waiting for a slot of the server"),
    "max_units": Limit("--max-units", "BNN_MAX_UNITS", 1024, LIMIT_WHAT["max_units"]),
    "max_layers": Limit("--max-layers", "BNN_MAX_LAYERS", 6, LIMIT_WHAT["max_layers"]),
    "max_params": Limit("--max-params", "BNN_MAX_PARAMS", 3_000_000, LIMIT_WHAT["max_params"]),
    "max_epochs": Limit("--max-epochs", "BNN_MAX_EPOCHS", 12, LIMIT_WHAT["max_epochs"]),
    "max_runs": Limit("--max-runs", "BNN_MAX_RUNS", 0, "runs training at once on the server (0: one per two cores)"),
    "max_disk_mb": Limit("--max-disk-mb", "BNN_MAX_DISK_MB", 2048, "MB of disk for the runs folder"),
}


@dataclass(frozen=True)
class ServerOptions:
    """The server's options, after ``streamlit run app.py --``: the folders, shared mode, and
    the text of each limit of :data:`LIMITS` given as an option (None: not given)."""

    data_dir: str | None = None
    runs_dir: str | None = None
    shared: bool = False
    limits: tuple[tuple[str, str | None], ...] = ()

    def limit_text(self, name: str) -> str | None:
        return dict(self.limits).get(name)


@functools.cache
def _parse_options(argv: tuple[str, ...]) -> ServerOptions:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir")
    parser.add_argument("--runs-dir")
    parser.add_argument("--shared", action="store_true")
    for name, limit in LIMITS.items():
        parser.add_argument(limit.option, dest=name)
    args, _ = parser.parse_known_args(list(argv))
    limits = tuple((name, getattr(args, name)) for name in LIMITS)
    return ServerOptions(args.data_dir, args.runs_dir, args.shared, limits)


def server_options() -> ServerOptions:
    """The server's options, parsed once per command line."""
    return _parse_options(tuple(sys.argv[1:]))


def shared() -> bool:
    """Shared-server mode: ``--shared`` after ``streamlit run app.py --``, or ``$BNN_SHARED`` set (not 0)."""
    return server_options().shared or os.environ.get(SHARED_ENV, "0") not in ("", "0")


def _chosen(name: str) -> tuple[str, str | None]:
    """Where limit ``name`` was set and its text: its option, else its environment variable."""
    option = server_options().limit_text(name)
    if option is not None:
        return LIMITS[name].option, option
    return f"${LIMITS[name].env}", os.environ.get(LIMITS[name].env) or None


def option_problems() -> list[str]:
    """Each limit set to something that is not a whole number it can be, named with where it was set."""
    problems = []
    for name in LIMITS:
        where, text = _chosen(name)
        lowest = 1 if name == "session_runs" else 0
        if text is not None and not (text.strip().isdigit() and int(text) >= lowest):
            problems.append(f"{where} must be a whole number of at least {lowest}, got {text!r:.40}")
    return problems


def limit(name: str) -> int:
    """A limit of :data:`LIMITS`: its option, else its environment variable, else its default
    (:func:`option_problems` says when the value given is unusable)."""
    _, text = _chosen(name)
    return int(text) if text is not None else LIMITS[name].default


def run_limits() -> RunLimits | None:
    """What one run may be on this server (bnn.jobs.start_rules.start_problems checks it); None outside shared mode."""
    if not shared():
        return None
    return RunLimits(**{field.name: limit(field.name) for field in fields(RunLimits)})


def owner_key() -> str:
    """This session's owner key: the tab URL's when it holds a valid one (a reload, a bookmark),
    else a new one. Kept in the URL (:func:`url_params`) and in the session."""
    key = st.session_state.get(OWNER_KEY)
    if key is None:
        from_url = st.query_params.get(OWNER_PARAM, "")
        key = from_url if KEY_PATTERN.fullmatch(from_url) else secrets.token_urlsafe(16)
        st.session_state[OWNER_KEY] = key
    return key


def id_of(key: str) -> str:
    """The owner a run keeps for the owner key ``key``: its hash, so a run folder does not reveal the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def owner_id() -> str | None:
    """The owner of the runs this session starts; None outside shared mode."""
    return id_of(owner_key()) if shared() else None


def url_params() -> dict[str, str]:
    """The URL params every page keeps: the owner key in shared mode."""
    return {OWNER_PARAM: owner_key()} if shared() else {}


def keep_in_url() -> None:
    """Put this session's owner key into the tab's URL (a page switch or a page's own params drop it)."""
    for name, value in url_params().items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value


def may_control(run: Run | Study | None) -> bool:
    """This session may pause, stop, test, edit, rename, delete or resume ``run`` (or stop and
    resume a study): always outside shared mode; in shared mode only the session that started it
    (a run without an owner, e.g. one trained before the server was shared, is nobody's to change)."""
    if not shared():
        return True
    return run is not None and run.owner is not None and run.owner == owner_id()


def require_owner(run: Run | Study | None, action: str) -> bool:
    """:func:`may_control`, and when not: a message for this session and a log line. Every callback
    for a run calls this first and changes nothing when it is False."""
    if may_control(run):
        return True
    name = run.name if run is not None else "?"
    notice = f"Not allowed: **{shown(name)}** belongs to another session: you can watch it, not {action} it."
    log.warning("refused: %s of run %r by a session that does not own it (session %s)", action, name, owner_id())
    st.session_state[NOTICE_KEY] = notice
    return False


def guarded(job, action: str, call: Callable[[], object]) -> Callable[[], None]:
    """A callback that does ``call()`` for ``job``'s run only when this session may control it."""

    def callback() -> None:
        if require_owner(job.snapshot(), action):
            call()

    return callback


def check_options() -> None:
    """In shared mode, stop every page while a limit is set to something unusable, saying which."""
    if shared() and (problems := option_problems()):
        st.error("This shared server's limits are misconfigured: " + "; ".join(problems), icon=":material/block:")
        st.stop()


def show_notice() -> None:
    """The last refusal of this session, once."""
    if NOTICE_KEY in st.session_state:
        st.warning(st.session_state.pop(NOTICE_KEY), icon=":material/lock:")


def watching_caption(run: Run | Study) -> None:
    st.caption(
        f":material/visibility: Watching **{shown(run.name)}**: it belongs to another session of this shared server."
    )


def folder_bytes(directory: Path) -> int:
    """Bytes of the regular files under ``directory`` (links not followed)."""
    total = 0
    for root, _, files in os.walk(directory):
        for file in files:
            try:
                total += os.lstat(os.path.join(root, file)).st_size
            except OSError:
                continue
    return total


def start_problems(config: RunConfig | None, runs: Iterable[Run], runs_dir: Path, server_waiting: int = 0) -> list[str]:
    """Why this session may not start a run of ``config`` now (None: resume a saved run, whose
    network was allowed when it started), one sentence per limit hit; none outside shared mode.
    ``runs``: the runs of this server's jobs; ``server_waiting``: runs waiting for a slot of the
    server (each session's further runs wait in its own queue first)."""
    if not shared():
        return []
    problems = []
    mine = [run for run in runs if run.owner == owner_id() and not run.ended]
    queued = sum(run.status == Status.QUEUED for run in mine)
    if len(mine) >= limit("session_runs") + limit("session_queued"):
        problems.append(
            f"this session has {len(mine) - queued} run(s) training and {queued} waiting, and a session may have "
            f"{limit('session_runs')} {LIMITS['session_runs'].what} and {limit('session_queued')} more "
            f"{LIMITS['session_queued'].what}: stop one first"
        )
    if server_waiting >= limit("max_queued"):
        problems.append(
            f"the server's queue is full ({server_waiting} runs wait for a training slot, at most "
            f"{limit('max_queued')}): try again when one has started"
        )
    if config is not None:
        problems += limit_problems(config, run_limits())
    scan_runs(runs_dir)  # removes what saves cut short left behind: it is not counted
    used_mb = folder_bytes(runs_dir) / 1024**2 if runs_dir.is_dir() else 0.0
    if used_mb >= limit("max_disk_mb"):
        problems.append(
            f"the runs folder is full ({used_mb:,.0f} MB of the {limit('max_disk_mb'):,} "
            f"{LIMITS['max_disk_mb'].what}); no run is deleted to make room: ask whoever runs the server"
        )
    return problems


class SessionSlots:
    """A session's own training slots in front of the server's: a run first waits for a slot of
    its session (``--session-runs``), then for one of the server (``--max-runs``)."""

    def __init__(self, session: RunSlots, server: RunSlots) -> None:
        self.session, self.server = session, server
        self.limit = server.limit

    def try_acquire(self, job) -> bool:
        if not self.session.try_acquire(job):
            return False
        if self.server.try_acquire(job):
            return True
        self.session.release(job)
        return False

    def acquire(self, job, cancelled: threading.Event) -> bool:
        if not self.session.acquire(job, cancelled):
            return False
        if self.server.acquire(job, cancelled):
            return True
        self.session.release(job)
        return False

    def release(self, job) -> None:
        self.server.release(job)
        self.session.release(job)

    def position(self, job) -> int | None:
        return self.session.position(job) or self.server.position(job)


@st.cache_resource(show_spinner=False)
def _session_slots() -> dict[str, RunSlots]:
    return {}


def slots_for(server: RunSlots) -> RunSlots | SessionSlots:
    """The slots a run of this session takes: the server's, and in shared mode its session's first."""
    if not shared():
        return server
    sessions = _session_slots()
    session = sessions.setdefault(owner_id(), RunSlots(limit("session_runs")))
    return SessionSlots(session, server)
