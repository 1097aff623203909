"""A limit on runs training at once (:class:`RunSlots`), shared by the jobs of a server
(:class:`bnn.jobs.training_job.TrainingJob`): the others wait in a fair queue, taking turns by owner."""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Protocol


class Queued(Protocol):
    """What takes a slot: a :class:`bnn.jobs.training_job.TrainingJob` (its owner decides whose turn it is)."""

    @property
    def owner(self) -> str | None: ...


class RunSlots:
    """A limit on runs training at once, shared by the jobs of a server; the others wait, and
    take turns by owner (:attr:`bnn.jobs.training_job.TrainingJob.owner`): a free slot goes to the waiting run of the
    owner served longest ago (never served first), first come first served among one owner's runs
    and among owners served equally long ago. So a session (or a script) with many runs waiting
    gets one turn as each other session does, not all the turns before them."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max(1, limit or default_slots())
        self._changed = threading.Condition()
        self._training: set[Queued] = set()
        self._waiting: deque[Queued] = deque()
        self._turns = 0  # slots given so far
        self._last_turn: dict[object, int] = {}  # owner -> the turn its last run got

    @property
    def waiting(self) -> int:
        """Runs waiting for a slot now."""
        with self._changed:
            return len(self._waiting)

    def _next(self) -> Queued:
        """The waiting run whose turn it is (see the class docstring); call with the lock held."""
        return _in_turn(self._waiting, self._last_turn)

    def _take(self, job: Queued) -> None:
        self._turns += 1
        self._last_turn[_owner(job)] = self._turns
        self._training.add(job)

    def try_acquire(self, job: Queued) -> bool:
        """Take a slot if one is free and nobody waits for it; False (and no wait) otherwise."""
        with self._changed:
            if len(self._training) >= self.limit or self._waiting:
                return False
            self._take(job)
            return True

    def acquire(self, job: Queued, cancelled: threading.Event) -> bool:
        """Wait for a slot; False when ``cancelled`` is set first."""
        with self._changed:
            self._waiting.append(job)
            self._changed.notify_all()  # the queue changed: its watchers (positions) may look again
            while len(self._training) >= self.limit or self._next() is not job:
                if cancelled.is_set():
                    self._waiting.remove(job)
                    self._changed.notify_all()
                    return False
                self._changed.wait(0.2)
            self._waiting.remove(job)
            self._take(job)
            self._changed.notify_all()  # the next in turn may be another run
            return True

    def release(self, job: Queued) -> None:
        with self._changed:
            self._training.discard(job)
            self._changed.notify_all()

    def position(self, job: Queued) -> int | None:
        """1 for the run that takes the next free slot, 2 for the one after it, ... (None: not waiting)."""
        with self._changed:
            if job not in self._waiting:
                return None
            turns, order = dict(self._last_turn), []
            waiting = list(self._waiting)
            while waiting:  # the order the slots will go in, if nobody else comes
                nxt = _in_turn(waiting, turns)
                order.append(nxt)
                waiting.remove(nxt)
                turns[_owner(nxt)] = max(turns.values(), default=0) + 1
            return order.index(job) + 1


def _owner(job) -> object:
    """Whose turn a waiting ``job`` takes: its owner (None outside a shared server: one queue)."""
    return getattr(job, "owner", None)


def _in_turn(waiting, last_turn: dict) -> Queued:
    """Of the runs ``waiting`` (in order of arrival), the one of the owner served longest ago."""
    return min(enumerate(waiting), key=lambda item: (last_turn.get(_owner(item[1]), -1), item[0]))[1]


def default_slots() -> int:
    """One training run per two cores: each run uses up to two threads (bnn.training.devices.cpu_threads_for)."""
    return max(1, len(os.sched_getaffinity(0)) // 2) if hasattr(os, "sched_getaffinity") else 1
