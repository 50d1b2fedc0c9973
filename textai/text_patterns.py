r"""Patterns shared by the text endpoints' schemas and their validators.

One definition, read the same way by the OpenAPI schema's clients (ECMA-262 regular
expressions, where ``\w`` is ASCII only), by pydantic (Rust regex) and by Python's ``re``:
explicit code-point ranges, no ``\w``.
"""

from __future__ import annotations

import re

#: A "word" character: ASCII letters and digits and the letters of the Latin, Greek, Cyrillic,
#: Hebrew/Arabic, Indic, Thai, Hangul, kana and CJK blocks (of the Basic Multilingual Plane).
WORD_CHAR_PATTERN = (
    r"[0-9A-Za-z\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF\u0590-\u06FF\u0900-\u0DFF"
    r"\u0E00-\u0E7F\u1100-\u11FF\u3040-\u30FF\u3400-\u9FFF\uAC00-\uD7AF]"
)

#: A character that is not blank by any engine's definition (ECMA-262 ``\s``, Rust's Unicode
#: White_Space, Python's ``str.isspace`` which adds ``\x1c``-``\x1f``): a field matching it
#: still has content after ``str.strip()``. (Plain ``\S`` differs between engines: U+0085.)
NON_BLANK_PATTERN = (
    r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u180e\u2000-\u200b\u2028\u2029\u202f"
    r"\u205f\u3000\ufeff]"
)

_WORD_CHAR = re.compile(WORD_CHAR_PATTERN)


def has_word_char(text: str) -> bool:
    """Return whether ``text`` has a letter or digit (as :data:`WORD_CHAR_PATTERN` says)."""
    return _WORD_CHAR.search(text) is not None
