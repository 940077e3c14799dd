"""Background jobs: training, fine-tuning and search run in daemon threads with progress and cancel.

A page gets the process-wide `JobManager` (held by `st.cache_resource`), submits a function
that takes (progress, should_stop), keeps the job id in the URL and polls it from a fragment,
so a page reload or a second tab finds the same job. Nothing here imports streamlit.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compression.train import Cancelled, Progress, StopFlag

JobFn = Callable[[Progress, StopFlag], Any]


@dataclass
class Job:
    id: str
    title: str
    state: str = "queued"  # queued | running | done | failed | cancelled
    progress: float = 0.0
    message: str = ""
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


class JobManager:
    """Thread-safe registry of jobs; each job runs in its own daemon thread."""

    def __init__(self, max_jobs: int = 200) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._max = max_jobs

    def submit(self, title: str, fn: JobFn, key: str | None = None) -> str:
        """Start `fn` unless a job with the same `key` is already active; return the job id."""
        with self._lock:
            if key is not None and key in self._jobs and self._jobs[key].active:
                return key
            job = Job(id=key or uuid.uuid4().hex[:12], title=title)
            self._jobs[job.id] = job
            self._trim()
        threading.Thread(target=self._run, args=(job, fn), daemon=True, name=f"job-{job.id}").start()
        return job.id

    def _run(self, job: Job, fn: JobFn) -> None:
        def progress(frac: float, msg: str) -> None:
            job.progress = max(0.0, min(1.0, float(frac)))
            job.message = msg

        job.state = "running"
        state = "done"
        try:
            job.result = fn(progress, job._cancel.is_set)
            if job._cancel.is_set():
                state = "cancelled"
            else:
                job.progress = 1.0
        except Cancelled:
            state = "cancelled"
        except Exception as exc:  # noqa: BLE001 - a job's failure is reported, never raised into the UI thread
            state = "failed"
            job.error = f"{type(exc).__name__}: {exc}"
            job.message = traceback.format_exc(limit=3)
        finally:
            job.finished = time.time()
            job.state = state  # last: a reader that sees the end state sees every other field too

    def get(self, job_id: str | None) -> Job | None:
        if not job_id:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> None:
        job = self.get(job_id)
        if job is not None:
            job._cancel.set()

    def wait(self, job_id: str, timeout: float = 600.0) -> Job:
        """Block until the job ends (CLI and tests)."""
        deadline = time.time() + timeout
        job = self.get(job_id)
        while job is not None and job.active and time.time() < deadline:
            time.sleep(0.05)
        if job is None:
            raise KeyError(job_id)
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def _trim(self) -> None:
        done = [j for j in self._jobs.values() if not j.active]
        for job in sorted(done, key=lambda j: j.started)[: max(0, len(self._jobs) - self._max)]:
            del self._jobs[job.id]
