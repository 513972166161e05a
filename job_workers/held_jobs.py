"""The jobs a worker process holds, kept where the next process in its place finds them.

A worker process killed from outside (the OOM killer, or the supervisor when its heartbeat
stops) cannot fail its jobs. The engine would hand them out again only when their
timeouts run out, 30 s to 2 minutes later, and their instances wait that long for nothing.

So each worker process writes the key and deadline of every job it holds into a small
memory-mapped file of its own (``HeldJobs``): a write is a store to memory that the kernel
keeps for the file, so it survives the process's death, and costs nothing per job on disk.
The process the supervisor starts in the dead one's place reads what was left and sets
those jobs' timeouts to zero (``hand_back``), and the engine hands them out at once. The
jobs left stay written down until each one's turn comes, so a successor killed in the
middle of handing them back leaves the rest to the process after it.

A job is written as soon as the process takes it up (``hold_from_the_start``), before
the twin check and before it waits for a task thread, and cleared before its outcome goes
to the engine: a process that dies after sending a completion or failure leaves nothing to hand
back, so a job the engine has since given to another worker is never cut short. A job
left by a predecessor is cleared before its timeout is set, for the same reason, and one
whose deadline has passed (or nearly) is left alone. A job the successor was killed
handing back, or the predecessor could not write (no free record), costs only the old wait.
"""

from __future__ import annotations

import functools
import logging
import mmap
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pyzeebe import Job, JobController, ZeebeWorker
from pyzeebe.errors import JobAlreadyDeactivatedError, JobNotFoundError
from pyzeebe.task.types import JobHandler

log = logging.getLogger(__name__)

# One record per held job: two native signed 64-bit words, the key, then the deadline (ms
# since the epoch). A zero key marks a free record. Each word is written with one aligned
# 8-byte store (a memoryview of format "q"), which a SIGKILL cannot tear; the deadline is
# written before the key and the key cleared alone, so a record read after a kill is whole
# or free.
WORDS_PER_RECORD = 2
WORD_BYTES = 8
# Far more than a process holds at once (its thread pool runs 8, streamed jobs queue behind).
CAPACITY = 4096
# A deadline this close is left to the engine: by the time the timeout is set, the engine
# may have handed the job out again (clocks on two machines differ by this much, too).
DEADLINE_MARGIN_MS = 5_000


@dataclass(frozen=True)
class HeldJob:
    """A job a process held when it died: its key and the engine's deadline for it."""

    key: int
    deadline_ms: int


class HeldJobs:
    """The jobs this process holds, in a file of ``CAPACITY`` records (see the module docstring).

    Not thread-safe: pyzeebe calls ``hold`` and ``let_go`` on the worker's event loop only.
    """

    def __init__(self, path: Path, capacity: int = CAPACITY):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        size = capacity * WORDS_PER_RECORD * WORD_BYTES
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._words = memoryview(self._map).cast("q")
        self._record_of: dict[int, int] = {}
        # A predecessor's records stay taken until ``forget`` clears them one by one.
        self._left_records: dict[int, list[int]] = {}
        for index in range(capacity):
            key = self._words[index * WORDS_PER_RECORD]
            if key > 0:
                self._left_records.setdefault(key, []).append(index)
        taken = {index for indexes in self._left_records.values() for index in indexes}
        # pop() hands out the lowest free record first
        self._free = [index for index in range(capacity - 1, -1, -1) if index not in taken]
        self.overflowed = 0  # jobs not written for want of a free record

    def take_over(self) -> list[HeldJob]:
        """The jobs a predecessor left in the file; each stays there until ``forget`` clears it."""
        return [
            HeldJob(key, self._words[index * WORDS_PER_RECORD + 1])
            for key, indexes in self._left_records.items()
            for index in indexes
        ]

    def forget(self, job: HeldJob) -> None:
        """Clear a job a predecessor left, before it is handed back; a second call does nothing."""
        for index in self._left_records.pop(job.key, []):
            self._words[index * WORDS_PER_RECORD] = 0
            self._free.append(index)

    def hold(self, job: Job) -> None:
        """Write down ``job``, as the process takes it up."""
        if job.key in self._record_of:
            return
        if not self._free:
            self.overflowed += 1
            return
        index = self._free.pop()
        self._words[index * WORDS_PER_RECORD + 1] = int(job.deadline)
        self._words[index * WORDS_PER_RECORD] = int(job.key)
        self._record_of[job.key] = index

    def let_go(self, job: Job) -> None:
        """Clear ``job``, before its outcome is sent; a second call does nothing."""
        index = self._record_of.pop(job.key, None)
        if index is None:
            return
        self._words[index * WORDS_PER_RECORD] = 0
        self._free.append(index)

    def held_keys(self) -> list[int]:
        """The keys written down now (for tests)."""
        return list(self._record_of)

    def close(self) -> None:
        self._words.release()
        self._map.close()

    # pyzeebe middleware (``after`` takes and returns the job): it runs just before pyzeebe
    # sends the completion.
    async def after(self, job: Job) -> Job:
        self.let_go(job)
        return job


def hold_from_the_start(worker: ZeebeWorker, held_jobs: HeldJobs) -> None:
    """Write down every job of ``worker`` as it is taken up; wrap the job handlers last.

    pyzeebe's ``before`` middleware would come too late: the twin check before it waits for
    a task thread, behind the jobs running, and a job whose process was killed meanwhile
    waited out its timeout.
    """
    for task in worker.tasks:
        task.job_handler = holding(task.job_handler, held_jobs)


def holding(handler: JobHandler, held_jobs: HeldJobs) -> JobHandler:
    """``handler``, with its job written down in ``held_jobs`` until the handler is done."""

    @functools.wraps(handler)
    async def job_handler(job: Job, job_controller: JobController) -> Job:
        held_jobs.hold(job)
        try:
            return await handler(job, job_controller)
        finally:
            # Each outcome clears the job before it is sent (``after``, the failure policy,
            # the twin check); this clears one for which none was sent, such as an outcome
            # that met a gateway outage, whose job the engine hands out again by itself.
            held_jobs.let_go(job)

    return job_handler


def _records(words) -> list[HeldJob]:
    return [
        HeldJob(key=words[at], deadline_ms=words[at + 1])
        for at in range(0, len(words), WORDS_PER_RECORD)
        if words[at] > 0
    ]


def jobs_in(path: Path) -> list[HeldJob]:
    """The jobs written in ``path`` now, read without changing it (for tests and operators)."""
    return _records(memoryview(path.read_bytes()).cast("q"))


TimeoutSetter = Callable[[int, int], Awaitable[object]]


async def hand_back(
    left: list[HeldJob],
    set_timeout: TimeoutSetter,
    now_ms: Callable[[], float] = lambda: time.time() * 1000,
    forget: Callable[[HeldJob], None] = lambda job: None,
) -> int:
    """Set the timeout of each job ``left`` by a dead predecessor to zero; the number handed back.

    ``set_timeout(job_key, timeout_ms)`` is pyzeebe's ``ZeebeAdapter.update_job_timeout``.
    ``forget`` (``HeldJobs.forget``) clears each job from the file just before its call, so
    that a process killed meanwhile leaves the jobs not yet tried, and none already handed
    back (which the engine may have given to another worker since).
    A job the engine no longer counts as activated (done, failed, or timed out already) is
    skipped; any other refusal leaves that job to its timeout, as before.
    """
    handed_back = 0
    for job in left:
        forget(job)
        if job.deadline_ms - now_ms() < DEADLINE_MARGIN_MS:
            continue  # the engine has it back, or soon will: never cut a new holder short
        try:
            await set_timeout(job.key, 0)
        except (JobNotFoundError, JobAlreadyDeactivatedError):
            continue
        except Exception as exc:  # noqa: BLE001 - the job's timeout still brings it back
            log.warning("job %s left by the previous process not handed back: %s", job.key, exc)
            continue
        handed_back += 1
    if left:
        log.info(
            "%d of %d jobs left by the previous process handed back to the engine", handed_back, len(left)
        )
    return handed_back
