"""Shared pieces of the property-based tests (test_fuzz_readers.py, test_fuzz_formula.py).

Budget: ``GUTLINK_FUZZ_EXAMPLES`` examples per test (default 20, so both files run in well under 30 s); with
``CI`` set (``CI=true``, as CI services set it) the examples are derandomized, so a CI run is the same every
time. Locally they are random; a failure prints the falsifying example and the ``@reproduce_failure`` line.
No example database is written (the working tree stays clean).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

from gutlink.errors import GutlinkError

CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
EXAMPLES = int(os.environ.get("GUTLINK_FUZZ_EXAMPLES", "20"))


def budget(factor: float = 1.0) -> settings:
    """Hypothesis settings for one test: ``factor`` × the default number of examples, no deadline."""
    return settings(max_examples=max(1, int(EXAMPLES * factor)), deadline=None, derandomize=CI, database=None,
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
