"""`textfit serve`'s request batcher: concurrent requests go through the model together."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("textfit")


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Gather concurrent requests for up to `max_wait_ms` (or `max_batch` texts) and run them
    through the model as one `predict_proba` call in a worker thread.

    One model call at a time: a CPU model gains nothing from two running at once, while a batch of
    32 texts costs far less than 32 calls of one, so throughput grows with the load."""

    def __init__(self, classifier, max_batch: int = 64, max_wait_ms: float = 5.0):
        self.classifier = classifier
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"batches": 0, "texts": 0, "requests": 0, "largest_batch": 0}

    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.loop is not loop:
            self.loop = loop
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._run())

    async def predict_proba(self, texts: list[str]) -> np.ndarray:
        self._ensure_started()
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(list(texts), future))
        return await future

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
            self.task = None

    @property
    def pending(self) -> int:
        return self.queue.qsize() if self.queue is not None else 0

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            jobs, count = [first], len(first.texts)
            deadline = time.perf_counter() + self.max_wait
            while count < self.max_batch:
                timeout = deadline - time.perf_counter()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                jobs.append(job)
                count += len(job.texts)
            jobs = [job for job in jobs if not job.future.cancelled()]  # the client went away
            if not jobs:
                continue
            texts = [text for job in jobs for text in job.texts]
            try:
                probabilities = await asyncio.to_thread(self.classifier.predict_proba, texts)
            except Exception as exc:  # the batch fails, the server does not
                log.exception("prediction failed for a batch of %d texts", len(texts))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.stats["batches"] += 1
            self.stats["texts"] += len(texts)
            self.stats["requests"] += len(jobs)
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(texts))
            start = 0
            for job in jobs:
                end = start + len(job.texts)
                if not job.future.done():
                    job.future.set_result(probabilities[start:end])
                start = end
