"""The periodic jobs, run inside the serving process when there is no broker.

With a broker, Celery beat sends ``CELERY_BEAT_SCHEDULE`` to the workers. The
embedded default (no broker, tasks eager) has no beat, and `make run` starts
no other process: without this, rollups, budget evaluation and alert delivery
retries ran only as a side effect of new calls, so a budget overspent by the
last call of the day never alerted. A daemon thread started by the ASGI
lifespan runs the same schedule instead.

Every job is safe to run twice or in two processes at once (rollups recompute
whole buckets, alert events are unique per threshold and period, deliveries
are claimed), so several server workers each running it are correct, merely
redundant.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    task: str  # dotted path of a Celery task (or any callable)
    every: float  # seconds
    next_run: float = 0.0


@dataclass
class EmbeddedScheduler:
    jobs: list[Job]
    clock: Callable[[], float] = time.monotonic
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def from_beat_schedule(cls, schedule: dict[str, dict]) -> EmbeddedScheduler:
        jobs = [
            Job(name, entry["task"], float(entry["schedule"])) for name, entry in schedule.items()
        ]
        return cls(jobs=jobs)

    def run_due(self) -> list[str]:
        """Run each job whose time has come; a failing job is logged, never fatal."""
        ran = []
        for job in self.jobs:
            now = self.clock()
            if now < job.next_run:
                continue
            job.next_run = now + job.every
            _run(job)
            ran.append(job.name)
        return ran

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="periodic-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            # The thread keeps a connection of its own: drop it if it died or aged out.
            close_old_connections()
            self.run_due()
            soonest = min(job.next_run for job in self.jobs) - self.clock()
            self._stop.wait(max(0.05, min(soonest, 5.0)))


def _run(job: Job) -> None:
    try:
        import_string(job.task)()
    except Exception:  # the next run retries; the server must live on
        logger.exception("periodic job %s failed", job.name)


_scheduler: EmbeddedScheduler | None = None


def periodic_jobs_start() -> EmbeddedScheduler | None:
    """Start the schedule in this process if settings ask for it (the default
    when no broker is configured); a second call does nothing."""
    global _scheduler
    if _scheduler is not None or not settings.PERIODIC_JOBS_IN_PROCESS:
        return None
    _scheduler = EmbeddedScheduler.from_beat_schedule(settings.CELERY_BEAT_SCHEDULE)
    _scheduler.start()
    logger.info("periodic jobs run in this process: %s", ", ".join(settings.CELERY_BEAT_SCHEDULE))
    return _scheduler


def periodic_jobs_stop() -> None:
    global _scheduler
    if _scheduler is not None:
        _scheduler.stop()
        _scheduler = None
