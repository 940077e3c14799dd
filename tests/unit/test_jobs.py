"""Background jobs: real threads, progress, results, failures and cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from compression import jobs, train


def _wait_until(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# Not strict: the race below loses only sometimes, so the test passes most runs.


def test_submit_progress_done() -> None:
    manager = jobs.JobManager()
    halfway = threading.Event()
    release = threading.Event()

    def work(progress: train.Progress, stop: train.StopFlag) -> int:
        progress(0.5, "half way")
        halfway.set()
        assert release.wait(10)
        return 42

    job_id = manager.submit("answer", work)
    assert halfway.wait(10)
    job = manager.get(job_id)
    assert job is not None and job.title == "answer"
    assert job.state == "running" and job.active
    assert job.progress == 0.5 and job.message == "half way"
    release.set()
    done = manager.wait(job_id, timeout=10)
    assert done.state == "done" and not done.active
    assert done.result == 42 and done.progress == 1.0 and done.error is None
    assert done.finished is not None and done.finished >= done.started
    assert job_id in [j.id for j in manager.list()]


def test_progress_is_clamped() -> None:
    manager = jobs.JobManager()
    seen: list[float] = []

    def work(progress: train.Progress, stop: train.StopFlag) -> None:
        progress(7.0, "too far")
        seen.append(manager.get(job_id).progress)  # type: ignore[union-attr]
        progress(-1.0, "too little")
        seen.append(manager.get(job_id).progress)  # type: ignore[union-attr]

    job_id = "clamp"
    manager.submit("clamp", work, key=job_id)
    manager.wait(job_id, timeout=10)
    assert seen == [1.0, 0.0]


def test_failure_is_captured_not_raised() -> None:
    manager = jobs.JobManager()

    def work(progress: train.Progress, stop: train.StopFlag) -> None:
        raise ZeroDivisionError("the data was empty")

    job = manager.wait(manager.submit("doomed", work), timeout=10)
    assert job.state == "failed"
    assert job.error == "ZeroDivisionError: the data was empty"
    assert "ZeroDivisionError" in job.message  # a short traceback for the curious
    assert job.result is None


def test_cancel_stops_a_running_job() -> None:
    manager = jobs.JobManager()
    started = threading.Event()
    loops = {"n": 0}

    def work(progress: train.Progress, stop: train.StopFlag) -> None:
        started.set()
        while True:  # a training loop checks the flag every step and raises Cancelled
            loops["n"] += 1
            if stop():
                raise train.Cancelled("cancelled by the user")
            time.sleep(0.005)

    job_id = manager.submit("forever", work)
    assert started.wait(10)
    manager.cancel(job_id)
    job = manager.wait(job_id, timeout=10)
    assert job.state == "cancelled"
    assert not job.active and job.finished is not None


def test_cancel_of_a_job_that_returns_anyway() -> None:
    manager = jobs.JobManager()
    started = threading.Event()

    def work(progress: train.Progress, stop: train.StopFlag) -> str:
        started.set()
        _wait_until(stop)
        return "partial"  # returned instead of raising: still reported as cancelled

    job_id = manager.submit("polite", work)
    assert started.wait(10)
    manager.cancel(job_id)
    assert manager.wait(job_id, timeout=10).state == "cancelled"


def test_cancel_a_real_training_job() -> None:
    manager = jobs.JobManager()
    cfg = train.TrainConfig(dataset="digits", model="lenet-300-100", epochs=500)
    job_id = manager.submit("train", lambda p, s: train.train_baseline(cfg, p, s))
    _wait_until(lambda: manager.get(job_id).progress > 0, timeout=120)  # type: ignore[union-attr]
    manager.cancel(job_id)
    job = manager.wait(job_id, timeout=60)
    assert job.state == "cancelled"
    assert job.progress < 1.0


def test_same_key_while_active_is_one_job() -> None:
    manager = jobs.JobManager()
    release = threading.Event()
    runs = {"n": 0}

    def work(progress: train.Progress, stop: train.StopFlag) -> None:
        runs["n"] += 1
        assert release.wait(10)

    a = manager.submit("train", work, key="train-x")
    b = manager.submit("train again", work, key="train-x")
    assert a == b == "train-x"
    release.set()
    manager.wait(a, timeout=10)
    assert runs["n"] == 1
    # Once finished, the same key may run again (e.g. after a failure).
    manager.wait(manager.submit("train", work, key="train-x"), timeout=10)
    assert runs["n"] == 2


def test_unknown_job() -> None:
    manager = jobs.JobManager()
    assert manager.get("nope") is None
    assert manager.get(None) is None
    manager.cancel("nope")  # harmless
    with pytest.raises(KeyError):
        manager.wait("nope", timeout=0.1)


def test_finished_jobs_are_trimmed() -> None:
    manager = jobs.JobManager(max_jobs=3)
    ids = [manager.submit(f"j{i}", lambda p, s: None) for i in range(3)]
    for job_id in ids:
        manager.wait(job_id, timeout=10)
    newest = manager.submit("j3", lambda p, s: None)
    manager.wait(newest, timeout=10)
    kept = {j.id for j in manager.list()}
    assert len(kept) == 3
    assert ids[0] not in kept and newest in kept
