"""The one rule for a person's name, applied by every way in: the library (`Gallery.enroll`, `rename`), the CLI
(enrol, rename, naming a cluster), the HTTP service (paths and bodies) and, last, the gallery store itself.

A name is kept as the user would read it back and address it again: Unicode NFC (so "é" typed two ways is one
person), without surrounding white space (so ``" Bob "`` is Bob), at most `MAX_NAME_LENGTH` characters, and
without characters that print as nothing or break an address: control characters (Unicode category Cc: newline,
tab, NUL...), format characters (Cf: zero-width spaces and joiners, bidirectional marks, the BOM...), line and
paragraph separators (Zl, Zp), lone surrogates (Cs, which no file or database can store) and ``/`` (a name is one
segment of a URL path such as ``/v1/people/NAME``).

>>> person_name("  Ada\u0301 ")     # NFC-normalised and trimmed
'Adá'
>>> person_name("AC/DC")                                    # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
faceprint.errors.InvalidName: ...
"""

from __future__ import annotations

import functools
import sys
import unicodedata

from faceprint.errors import InvalidName

__all__ = ["MAX_NAME_LENGTH", "person_name", "lookup_name", "check_name", "name_pattern"]

MAX_NAME_LENGTH = 200
"""The longest name, in characters (after normalising): long enough for any real name, short enough to show."""

_REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                       "Zl": "a line separator", "Zp": "a paragraph separator", "Cs": "a lone surrogate"}


def _refused(ch: str) -> str | None:
    """Why `ch` cannot be in a name, or None."""
    if ch == "/":
        return "'/' (a name is one part of a URL path: /v1/people/NAME)"
    return _REFUSED_CATEGORIES.get(unicodedata.category(ch))


def person_name(name: object) -> str:
    """The name as it is stored: NFC-normalised and trimmed; InvalidName when it is not a string, blank, longer than
    MAX_NAME_LENGTH, or holds a control or format (zero-width) character or '/'.

    Raises:
        InvalidName: the message names the character (as U+XXXX) and where it is.
    """
    if not isinstance(name, str):
        raise InvalidName(f"a person's name must be text, got {type(name).__name__}")
    if len(name) > MAX_NAME_LENGTH:  # as sent, and below as stored (NFC may lengthen a few characters)
        raise InvalidName(f"a person's name has at most {MAX_NAME_LENGTH} characters, got {len(name):,}")
    norm = unicodedata.normalize("NFC", name).strip()
    if not norm:
        raise InvalidName(f"a person's name must hold visible characters, got {name!r}")
    if len(norm) > MAX_NAME_LENGTH:
        raise InvalidName(f"a person's name has at most {MAX_NAME_LENGTH} characters, got {len(norm):,}")
    for i, ch in enumerate(norm):
        why = _refused(ch)
        if why is not None:
            label = unicodedata.name(ch, "") or "unnamed"
            raise InvalidName(f"a person's name cannot hold {why}: U+{ord(ch):04X} ({label}) at character {i + 1} of {norm!r}")
    return norm


def lookup_name(name: str) -> str:
    """The spelling to look a person up by: the stored form when `name` is a valid name (so " Bob " finds Bob), else
    `name` unchanged (a name stored before this rule is still found by its exact spelling, and can be renamed)."""
    try:
        return person_name(name)
    except InvalidName:
        return name


def check_name(name: str) -> str:
    """The gallery store's last check: `name` must be valid and already in its stored form (callers normalise with
    `person_name` first, so a store written to directly cannot hold " Bob " beside "Bob")."""
    norm = person_name(name)
    if norm != name:
        raise InvalidName(f"a person's name must be stored normalised (NFC, trimmed): {norm!r}, not {name!r}")
    return name


@functools.cache
def name_pattern() -> str:
    """A regular expression (for OpenAPI) that a valid name matches: at least one non-space character, none of the
    refused ones (lone surrogates aside: no URL or UTF-8 text holds one). Built from the same rule as `person_name`,
    over every code point (about 0.3 s, once)."""
    ranges: list[list[int]] = []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:  # surrogates: refused, but no regex dialect of schema tools can name them
            continue
        if _refused(chr(cp)) is not None:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])

    def esc(cp: int) -> str:
        return f"\\u{cp:04x}" if cp <= 0xFFFF else chr(cp)  # astral ones as themselves: not every regex dialect reads a \U escape

    refused = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return f"^[^{refused}]*[^\\s{refused}][^{refused}]*$"

