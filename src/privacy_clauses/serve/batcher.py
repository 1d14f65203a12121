"""Dynamic batching: concurrent requests are collected for a few milliseconds into one forward pass."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..predict.classifier import ClauseClassifier, Prediction


@dataclass
class _Request:
    texts: Sequence[str]
    contexts: Sequence[str]
    future: asyncio.Future


class MicroBatcher:
    """Queues clause lists from many requests and labels them together.

    The first waiting request opens a batch; requests arriving within ``max_wait_ms`` join it
    until it holds ``max_clauses``. The forward pass runs in a worker thread, so the event
    loop keeps accepting requests (they form the next batch) meanwhile.
    """

    def __init__(self, classifier: ClauseClassifier, max_clauses: int = 64, max_wait_ms: float = 5.0) -> None:
        self.classifier = classifier
        self.max_clauses = max_clauses
        self.max_wait = max_wait_ms / 1000
        self.forwards = 0  # forward passes run, for tests and /health
        self._queue: asyncio.Queue[_Request] | None = None
        self._task: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="forward")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._thread.shutdown(wait=True)

    async def classify(self, texts: Sequence[str], contexts: Sequence[str]) -> list[Prediction]:
        """Labels of ``texts`` (with ``contexts``), computed in a shared batch."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(texts, contexts, future))
        return await future

    async def _collect(self) -> list[_Request]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        size = len(batch[0].texts)
        deadline = loop.time() + self.max_wait
        while size < self.max_clauses:
            try:
                request = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(request)
            size += len(request.texts)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            texts = [text for request in batch for text in request.texts]
            contexts = [context for request in batch for context in request.contexts]
            try:
                run = self.classifier.predict
                predictions = await loop.run_in_executor(self._thread, run, texts, contexts)
            except Exception as error:  # noqa: BLE001 - handed to every waiting request
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            self.forwards += 1
            start = 0
            for request in batch:
                end = start + len(request.texts)
                if not request.future.done():  # a client that went away leaves a cancelled future
                    request.future.set_result(predictions[start:end])
                start = end
