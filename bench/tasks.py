"""The benchmark's task: it does nothing, so what is measured is the pool, not the work."""

from pyzeebe import ZeebeTaskRouter

from bench.models import JOB_TYPE
from job_workers.services import Services


def do_nothing() -> dict:
    """Synchronous, like the product's task functions, so it runs the same executor path."""
    return {}


def build_router(services: Services) -> ZeebeTaskRouter:
    router = ZeebeTaskRouter()
    router.task(JOB_TYPE, timeout_ms=30_000)(do_nothing)
    return router
