"""``python -m hireflow.healthcheck URL``: exit 0 when URL answers 2xx, else 1.

The images' HEALTHCHECK and compose's health checks use it: the slim Python image has no
curl, and this needs nothing beyond the standard library.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from hireflow.cli import command_line


def healthy(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether ``url`` answered 2xx, and what it said."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return 200 <= response.status < 300, f"{response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, str(exc)
    except ValueError as exc:  # no URL at all, such as "localhost:5000/healthz"
        return False, f"not an http(s) URL: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = command_line("hireflow.healthcheck", __doc__)
    parser.add_argument("url", metavar="URL", help="what to ask, such as http://127.0.0.1:5000/healthz")
    url = parser.parse_args(argv).url
    ok, detail = healthy(url)
    print(f"{url}: {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
