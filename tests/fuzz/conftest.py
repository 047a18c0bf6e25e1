"""The Hypothesis profile of the bad-input property tests.

The example count is moderate by default so that the directory stays quick in CI; set
``TONGHU_FUZZ_EXAMPLES`` for a long run, e.g. ``TONGHU_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/fuzz -q``.
Examples are random (not derandomized); a failure prints the seed and a ``@reproduce_failure`` blob, and the
failing example is kept in ``.hypothesis/`` and tried first on the next run.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("TONGHU_FUZZ_EXAMPLES", "120"))

settings.register_profile(
    "tonghu-fuzz",
    max_examples=EXAMPLES,
    # Generous: a deadline here catches hangs and runaway work, it does not time anything. A machine shared by
    # several test runs can be slow, so only an order of magnitude over the usual cost counts as a failure.
    deadline=timedelta(seconds=10),
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)


def fuzz(share: float = 1.0) -> settings:
    """The profile, with ``share`` of its examples for properties that cost more per example.

    Used as a decorator instead of loading the profile, so that other test directories keep their own settings.
    """
    return settings(settings.get_profile("tonghu-fuzz"), max_examples=max(10, int(EXAMPLES * share)))
