"""Command line: ``python -m hireflow.engine {fetch,fetch-embedded,start,stop,status,java}``.

``--profile local|test`` picks the engine ``start``, ``stop`` and ``status`` act on.
"""

from __future__ import annotations

import sys

from hireflow.cli import command_line
from hireflow.engine.distribution import EXIT_UNAVAILABLE, DistributionUnavailable, FetchError, fetch
from hireflow.engine.embedded import embedded_version, fetch_embedded
from hireflow.engine.java import JavaNotFound, find_java
from hireflow.engine.process import EngineError, start, status, stop
from hireflow.engine.profiles import PROFILES, camunda_version
from hireflow.settings import SettingError


def main(argv: list[str] | None = None) -> int:
    parser = command_line("hireflow.engine", __doc__)
    parser.add_argument("command", choices=["fetch", "fetch-embedded", "start", "stop", "status", "java"])
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="local",
        help="local: the `make run` engine; test: the `make test` engine",
    )
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]()
    try:
        if args.command == "java":
            java = find_java()
            print(f"Java {java.major} at {java.home}")
        elif args.command == "fetch":
            dist = fetch()
            print(f"Camunda {dist.version} is ready in {dist.lib_dir}")
        elif args.command == "fetch-embedded":
            lib_dir = fetch_embedded()
            print(f"The embedded Zeebe engine {embedded_version()} is ready in {lib_dir}")
        elif args.command == "start":
            java = find_java()
            dist = fetch()
            print(start(profile, dist, java).describe())
        elif args.command == "stop":
            stop(profile)
        elif args.command == "status":
            current = status(profile)
            print(f"Pinned Camunda version: {camunda_version()}")
            print(current.describe())
            return 0 if current.running else 1
    except DistributionUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (FetchError, JavaNotFound, EngineError, SettingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
