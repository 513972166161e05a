"""``python -m hireflow.healthcheck URL``: exit 0 when URL answers 2xx, else 1.

The images' HEALTHCHECK and compose's health checks use it: the slim Python image has no
curl, and this needs nothing beyond the standard library.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def healthy(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether ``url`` answered 2xx, and what it said."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return 200 <= response.status < 300, f"{response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, str(exc)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hireflow.healthcheck URL", file=sys.stderr)
        return 2
    ok, detail = healthy(args[0])
    print(f"{args[0]}: {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
