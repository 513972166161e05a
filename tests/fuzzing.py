"""How far the tests' hypothesis fuzzing goes, and whether it repeats itself.

Both are set from the environment (see docs/configuration.md): ``make test`` runs a bounded,
derandomized fuzz, so a red run points at the change and not at the draw, and a deep run
(``HIREFLOW_FUZZ_EXAMPLES=300 HIREFLOW_FUZZ_RANDOM=1``) looks for new finds.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Examples per API operation; the task functions, being cheap, take three times as many.
FUZZ_EXAMPLES = int(os.environ.get("HIREFLOW_FUZZ_EXAMPLES", "20"))
FUZZ_RANDOM = os.environ.get("HIREFLOW_FUZZ_RANDOM", "") == "1"


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for one fuzzed function: the same cases every run unless asked.

    No deadline (an engine call's time varies) and no example database (CI starts clean).
    """
    return settings(
        max_examples=max_examples,
        derandomize=not FUZZ_RANDOM,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
