"""Deprecated spellings kept for one release, so that renaming a parameter never breaks a user's script silently.

Examples
--------
>>> import warnings
>>> @renamed(permutations="n_permutations")
... def f(*, n_permutations=9):
...     return n_permutations
>>> with warnings.catch_warnings(record=True) as w:
...     warnings.simplefilter("always")
...     f(permutations=3), w[0].category.__name__
(3, 'FutureWarning')
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import DesignError

__all__ = ["renamed"]

F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept each old keyword as its new name, with a :class:`FutureWarning` saying which to use."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise DesignError(f"{func.__name__}: give {new}= only ({old}= is its deprecated spelling).")
                    warnings.warn(f"{func.__name__}({old}=…) is deprecated; use {new}=.", FutureWarning,
                                  stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
