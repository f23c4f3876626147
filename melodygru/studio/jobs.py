"""Generation off the request threads: a queue of jobs and one worker thread that runs them in
order of arrival.

One worker, not one per request or per model: TensorFlow already spreads one batch over every
core, and what follows sampling (matplotlib's pyplot for the piano roll, music21 for the score)
is not made for threads. A request thread only checks, queues and (unless it asked not to) waits;
the worker catches everything a job raises, so no request can stop the server.
"""


from __future__ import annotations

import collections
import queue
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field

from ..core.errors import MelodyGRUError
from .request import GenerateRequest, RequestError

MAX_QUEUED = 64  # jobs waiting at most; more is a 503 (the page sends one at a time)
KEEP_JOBS = 1000  # finished jobs remembered for GET /api/jobs/<id>


@dataclass
class Job:
    """One `POST /api/generate`: what it asked for, where it stands, and what came of it."""

    id: str
    request: GenerateRequest
    primer: object = None  # the uploaded primer's path
    status: str = "queued"  # queued, running, done, failed
    stage: str = "waiting for the worker"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    pieces: list = field(default_factory=list)
    report: dict = field(default_factory=dict)
    error: str | None = None
    http_status: int = 200
    done: threading.Event = field(default_factory=threading.Event)

    def as_dict(self, ahead: int = 0) -> dict:
        """The job as `GET /api/jobs/<id>` answers it."""
        now = time.time()
        row = {"job": self.id, "status": self.status, "stage": self.stage, "model": self.request.model,
               "waited_s": round((self.started or now) - self.created, 3),
               "elapsed_s": round((self.finished or now) - self.started, 3) if self.started else 0.0}
        if self.status == "queued":
            row["ahead"] = ahead
        if self.status == "done":
            row.update(pieces=self.pieces, seed=self.report.get("seed"), decode_seconds=self.report.get("decode_seconds"))
        if self.error is not None:
            row["error"] = self.error
        return row


class JobQueue:
    """Jobs by id, and the worker thread that runs them with `run(job)` (which returns the job's
    piece rows and report, and may set `job.stage` as it goes).

    Args:
        run: does a job's work; a `MelodyGRUError` it raises fails the job with its one line
            (a `RequestError`'s status, else 400); anything else fails it as an internal error (500).
        log: called with a line for every internal error (the server prints it).
    """

    def __init__(self, run, log=lambda line: None, max_queued: int = MAX_QUEUED):
        self._run, self._log, self.max_queued = run, log, max_queued
        self._queue: queue.Queue[Job] = queue.Queue()
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._waiting: list[str] = []  # ids queued, in order
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="melodygru-studio-worker", daemon=True)
        self._worker.start()

    def submit(self, request: GenerateRequest, primer=None) -> Job:
        """Queue a job.

        Raises:
            RequestError: (503) `max_queued` jobs are already waiting.
        """
        with self._lock:
            if len(self._waiting) >= self.max_queued:
                raise RequestError(f"{len(self._waiting)} jobs are waiting already: try again when they are done", 503)
            job = Job(secrets.token_hex(8), request, primer)
            self._jobs[job.id] = job
            self._waiting.append(job.id)
            while len(self._jobs) > KEEP_JOBS + self.max_queued:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].status in ("queued", "running"):
                    break
                self._jobs.pop(oldest)
        self._queue.put(job)
        return job

    def get(self, job_id) -> Job:
        """A job by id.

        Raises:
            RequestError: (404) no such job (or one finished so long ago that it is forgotten).
        """
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise RequestError(f"no job {str(job_id)[:40]!r}", 404)
        return job

    def describe(self, job: Job) -> dict:
        """`job.as_dict` with the number of jobs queued before it."""
        with self._lock:
            ahead = self._waiting.index(job.id) if job.id in self._waiting else 0
        return job.as_dict(ahead)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            with self._lock:
                self._waiting.remove(job.id)
            job.status, job.started, job.stage = "running", time.time(), "starting"
            try:
                job.pieces, job.report = self._run(job)
                job.status, job.stage = "done", "done"
            except MelodyGRUError as e:
                job.status, job.stage = "failed", "failed"
                job.error = " ".join(str(e).split())[:500] or type(e).__name__
                job.http_status = e.status if isinstance(e, RequestError) else 400
            except Exception as e:  # never the worker's end: the job fails, the server goes on
                job.status, job.stage, job.http_status = "failed", "failed", 500
                first = (str(e).strip().splitlines() or [""])[0][:200]
                job.error = f"internal error: {type(e).__name__}: {first}"
                self._log(f"job {job.id}: {job.error}\n{traceback.format_exc()}")
            finally:
                job.finished = time.time()
                job.done.set()
