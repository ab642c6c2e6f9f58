"""Shared pieces of the property-based tests (test_fuzz_readers.py, test_fuzz_formula.py).

Budget: ``GUTLINK_FUZZ_EXAMPLES`` examples per test (default 20, so both files run in about 20 s on one core).
The examples are derandomized, so every run of the suite (and every CI run) tries the same inputs; to explore,
set ``GUTLINK_FUZZ_RANDOM=1`` (ignored when ``CI`` is set, as CI services set it) and raise the budget, e.g.
``GUTLINK_FUZZ_RANDOM=1 GUTLINK_FUZZ_EXAMPLES=300 pytest tests/test_fuzz_readers.py``. A failure prints the
falsifying example and its ``@reproduce_failure`` line. No example database is written (hypothesis' own
``.hypothesis/`` cache ignores itself in git).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

from gutlink.errors import GutlinkError


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


CI = _flag("CI")
RANDOM = _flag("GUTLINK_FUZZ_RANDOM") and not CI
EXAMPLES = int(os.environ.get("GUTLINK_FUZZ_EXAMPLES", "20"))


def budget(factor: float = 1.0) -> settings:
    """Hypothesis settings for one test: ``factor`` × the default number of examples, no deadline."""
    return settings(max_examples=max(1, int(EXAMPLES * factor)), deadline=None, derandomize=not RANDOM, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
                    print_blob=True)


T = TypeVar("T")


def read_or_refuse(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | GutlinkError:
    """Run a reader: its result, or the :class:`GutlinkError` it raised (which must carry a message).

    Any other exception propagates, and so does a warning (the test suite turns warnings into errors), so
    hypothesis reports the input as a failure.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        try:
            return call(*args, **kwargs)
        except GutlinkError as exc:
            assert str(exc).strip(), f"{type(exc).__name__} with an empty message"
            return exc
