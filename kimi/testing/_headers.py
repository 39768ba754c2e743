"""The header fields of a request head, as http.server has always read them: through the
email package's parser (names as sent, the first of a repeated name wins lookups).

Plain ``Name: value`` lines, nearly every head, are split here directly, which gives the
parser's result at a fraction of its cost; anything else (folded lines, odd separators,
a missing blank line) goes to the parser itself. No I/O here; see `_request.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import Parser

# A line the email parser takes as one whole field: a name of printable characters but
# ":", then a value holding none of the characters str.splitlines() breaks lines at.
_PLAIN = re.compile(r"[!-9;-~]+:[^\r\n\x0b\x0c\x1c-\x1e\x85]*\r?\n")
_BLANK = ("\r\n", "\n", "")


@dataclass(frozen=True)
class Headers:
    """Header fields in the order they came, names as sent."""

    fields: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        """The value of the first field called `name` (any case), else `default`."""
        key = name.lower()
        return next((v for n, v in self.fields if n.lower() == key), default)

    def recorded(self) -> dict[str, str]:
        """Lower-case names, repeated fields joined with ", " (as RecordedRequest keeps them)."""
        joined: dict[str, str] = {}
        for name, value in self.fields:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return joined


def parse_headers(lines: list[bytes]) -> Headers:
    """The fields of a head's header `lines`, the blank line (or b"" at EOF) last."""
    text = [line.decode("iso-8859-1") for line in lines]
    fields = text[:-1] if text and text[-1] in _BLANK else text
    if all(_PLAIN.fullmatch(line) for line in fields):
        split = (line.partition(":") for line in fields)
        return Headers(tuple((name, v.lstrip(" \t").rstrip("\r\n")) for name, _, v in split))
    return Headers(tuple(Parser().parsestr("".join(text)).items()))
