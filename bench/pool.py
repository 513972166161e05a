"""The product's pool launcher and supervisor, running ``bench.pool_worker`` processes."""

from job_workers.__main__ import main

if __name__ == "__main__":
    main(worker_module="bench.pool_worker")
