"""The condition vocabulary: a user's label ("RA", "Crohn disease", "T1D") to BugSigDB's condition labels.

BugSigDB names conditions with hyphenated EFO-style labels (``Crohn's-disease``, ``Type-I-diabetes-mellitus``).
:func:`resolve` accepts the usual abbreviations and spellings, or any BugSigDB label itself (case, spaces,
hyphens and apostrophes ignored), and says which labels it chose; an unknown name is an
:class:`~gutlink.errors.UnknownConditionError` that lists the nearest names.

Examples
--------
>>> resolve("RA").labels
('Rheumatoid-arthritis',)
>>> resolve("IBD").labels
("Crohn's-disease", 'Inflammatory-bowel-disease', 'Ulcerative-colitis')
>>> resolve("crohn disease").name
"Crohn's disease"
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import UnknownConditionError
from .signatures import condition_labels

__all__ = ["Condition", "VOCABULARY", "resolve"]


@dataclass(frozen=True)
class Condition:
    """A condition as BugSigDB knows it.

    ``labels``: the BugSigDB condition labels whose signatures count; ``family``: labels of closely related
    conditions (left out of the other-conditions null, whose signatures share this condition's biology);
    ``terms``: words that name the disease inside a group name (used to orient each signature's contrast).
    """

    name: str
    labels: tuple[str, ...]
    family: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()


_IBD = ("Crohn's-disease", "Inflammatory-bowel-disease", "Ulcerative-colitis", "Colitis", "Distal-colitis",
        "Pancolitis")
_IBD_TERMS = ("crohn", "cd", "uc", "ibd", "colitis", "inflammatory-bowel", "ileitis", "pouchitis")
_ARTHRITIS = ("Rheumatoid-arthritis", "Arthritis", "Juvenile-idiopathic-arthritis", "Psoriatic-arthritis",
              "Ankylosing-spondylitis")
_THYROID = ("Graves-disease", "Hashimoto's-thyroiditis", "Hypothyroidism", "Graves-ophthalmopathy")

#: Canonical name → (aliases, BugSigDB labels, family labels, group-name terms).
VOCABULARY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "Crohn's disease": (("cd", "crohn", "crohns", "crohn disease", "crohns disease", "crohn's"),
                        ("Crohn's-disease",), _IBD, _IBD_TERMS),
    "ulcerative colitis": (("uc",), ("Ulcerative-colitis",), _IBD, _IBD_TERMS),
    "inflammatory bowel disease": (("ibd",), ("Crohn's-disease", "Inflammatory-bowel-disease",
                                              "Ulcerative-colitis"), _IBD, _IBD_TERMS),
    "rheumatoid arthritis": (("ra",), ("Rheumatoid-arthritis",), _ARTHRITIS, ("rheumatoid", "ra", "arthritis", "nora")),
    "multiple sclerosis": (("ms", "rrms", "relapsing remitting multiple sclerosis"),
                           ("Multiple-sclerosis", "Relapsing-remitting-multiple-sclerosis"),
                           ("Experimental-autoimmune-encephalomyelitis",), ("sclerosis", "ms", "rrms")),
    "type 1 diabetes": (("t1d", "t1dm", "type 1 diabetes mellitus", "type i diabetes", "iddm"),
                        ("Type-I-diabetes-mellitus", "Autoimmune-type-1-diabetes"), ("Diabetes-mellitus",),
                        ("diabet", "t1d", "t1dm", "iddm")),
    "ankylosing spondylitis": (("as", "axial spondyloarthritis", "axspa"),
                               ("Ankylosing-spondylitis",), (*_ARTHRITIS, "Anterior-uveitis"),
                               ("spondyl", "as", "axspa")),
    "psoriasis": (("pso", "psoriasis vulgaris"), ("Psoriasis", "Psoriasis-vulgaris"), ("Psoriatic-arthritis",),
                  ("psoria",)),
    "psoriatic arthritis": (("psa",), ("Psoriatic-arthritis",), ("Psoriasis", "Psoriasis-vulgaris", *_ARTHRITIS),
                            ("psoria", "psa", "arthritis")),
    "systemic lupus erythematosus": (("sle", "lupus"), ("Systemic-lupus-erythematosus",), (), ("lupus", "sle")),
    "celiac disease": (("celiac", "coeliac", "coeliac disease"), ("Celiac-disease",), (),
                       ("celiac", "coeliac")),
    "juvenile idiopathic arthritis": (("jia", "ja", "juvenile arthritis"), ("Juvenile-idiopathic-arthritis",),
                                      _ARTHRITIS, ("arthritis", "jia")),
    "Graves' disease": (("graves", "gd"), ("Graves-disease",), _THYROID, ("graves", "gd")),
    "Hashimoto's thyroiditis": (("hashimoto", "ht", "hashimotos"), ("Hashimoto's-thyroiditis",), _THYROID,
                                ("hashimoto", "thyroiditis", "ht")),
    "Sjogren syndrome": (("sjogren", "sjogrens", "ss", "pss"), ("Sjogren-syndrome",), (), ("sjogren", "pss")),
    "Behcet's syndrome": (("behcet", "behcets", "bd"), ("Behcet's-syndrome",), ("Anterior-uveitis",),
                          ("behcet",)),
}


def key(text: object) -> str:
    """A comparable form of a condition name: lower case, apostrophes dropped, separators as one space.

    Examples
    --------
    >>> key("Crohn’s-disease"), key("  Type-I diabetes ")
    ('crohns disease', 'type i diabetes')
    """
    s = str(text).lower().replace("’", "").replace("'", "")
    return re.sub(r"[\s_\-,]+", " ", s).strip()


def _index() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, (aliases, labels, _, _) in VOCABULARY.items():
        for alias in (name, *aliases):
            out.setdefault(key(alias), name)
        if len(labels) == 1:
            out.setdefault(key(labels[0]), name)
    return out


def resolve(name: str, known: Iterable[str] | None = None) -> Condition:
    """The :class:`Condition` a user's *name* stands for.

    Parameters
    ----------
    name
        An abbreviation (``RA``, ``CD``, ``T1D``), a common spelling (``Crohn disease``) or a BugSigDB label
        (``Type-I-diabetes-mellitus``, any case and separators).
    known
        Every BugSigDB condition label (default: those of the bundled copy); a label outside the vocabulary is
        accepted when it is one of these.

    Returns
    -------
    Condition

    Raises
    ------
    UnknownConditionError
        When *name* is neither in the vocabulary nor a BugSigDB label; the message names the nearest names.

    Examples
    --------
    >>> resolve("Parkinson's disease", ["Parkinson's-disease", "Obesity"]).labels
    ("Parkinson's-disease",)
    """
    k = key(name)
    index = _index()
    if k in index:
        canonical = index[k]
        _, labels, family, terms = VOCABULARY[canonical]
        return Condition(canonical, tuple(sorted(labels)), tuple(sorted(set(family) | set(labels))), terms)
    if known is None:
        known = condition_labels()
    labels_by_key = {key(lb): lb for lb in known}
    if k in labels_by_key:
        label = labels_by_key[k]
        words = tuple(w for w in key(label).split() if len(w) > 3 and w not in _GENERIC)
        return Condition(label.replace("-", " "), (label,), (label,), words)
    choices = sorted({*index, *labels_by_key})
    near = difflib.get_close_matches(k, choices, n=5, cutoff=0.5)
    shown = [index[c] if c in index else labels_by_key[c] for c in near]
    raise UnknownConditionError(name, tuple(dict.fromkeys(shown)))


_GENERIC = {"disease", "syndrome", "disorder", "mellitus", "type", "with", "infection", "measurement", "chronic"}
