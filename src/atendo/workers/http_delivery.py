"""The round both webhook-posting workers run (``webhook_delivery`` and ``external_sender``):
claim due work in one transaction, POST each piece concurrently with ``SignedPoster``, record
each outcome in its own transaction; repeat, pausing only when a round found nothing — until
``idle_seconds`` pass or its topic is notified (:mod:`atendo.kit.wake`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from atendo.kit.netguard import Resolver, system_resolver
from atendo.kit.signed_post import SignedPoster
from atendo.runtime import Runtime
from atendo.workers.runner import woken_rounds

Round = Callable[[Runtime, SignedPoster], Awaitable[int]]
Job = TypeVar("Job")
Result = TypeVar("Result")


def new_poster(runtime: Runtime, resolve: Resolver = system_resolver) -> SignedPoster:
    return SignedPoster(
        allow_private=runtime.settings.webhooks_allow_private_networks,
        resolve=resolve,
        ports=runtime.settings.webhook_ports,
    )


async def claim_send_save(
    claim: Callable[[], list[Job]],
    send: Callable[[Job], Awaitable[Result]],
    save: Callable[[Job, Result], None],
) -> int:
    """Claim (in a thread), send every job concurrently, save each result as it comes (in a
    thread); returns how many jobs were claimed."""
    jobs = await asyncio.to_thread(claim)

    async def one(job: Job) -> None:
        result = await send(job)
        await asyncio.to_thread(save, job, result)

    await asyncio.gather(*(one(job) for job in jobs))
    return len(jobs)


async def poll_rounds(
    runtime: Runtime,
    stop: asyncio.Event,
    step: Round,
    *,
    idle_seconds: float,
    log: logging.Logger,
    topic: str,
) -> None:
    """Run ``step`` with one poster until ``stop`` (:func:`atendo.workers.runner.woken_rounds`:
    woken by ``topic``, else every ``idle_seconds``)."""
    async with new_poster(runtime) as poster:
        await woken_rounds(
            runtime,
            stop,
            lambda: step(runtime, poster),
            topic=topic,
            idle_seconds=idle_seconds,
            log=log,
        )
