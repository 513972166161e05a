"""One process of the benchmarked pool: the product's worker, every router, plus the bench task."""

from bench.tasks import build_router
from job_workers.worker import ROUTER_BUILDERS, main

if __name__ == "__main__":
    main((*ROUTER_BUILDERS, build_router))
