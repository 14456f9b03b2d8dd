"""Section and rhyme letters (``AABA``, ``ABCB``): named A, B, C... in the order they first come."""

from __future__ import annotations

from .errors import GenerationError


def check_first_come(letters: str, what: str, example: str) -> str:
    """``letters`` if each new letter is the next unused one (``ABAC`` yes, ``ACAB`` no), else a one-line error
    naming ``what`` they are (with ``example`` of a right one)."""
    seen = ""
    for letter in letters:
        if letter not in seen:
            if letter != chr(ord("A") + len(seen)):
                raise GenerationError(f"{what} are named A, B, C... in the order they first come "
                                      f"(e.g. {example}, not {letters})")
            seen += letter
    return letters
