"""An argparse type for RFC 3339 times given on the command line (verbs starting with _ are not verbs)."""

from __future__ import annotations

import argparse
from datetime import datetime


def rfc3339(text: str) -> datetime:
    """An aware datetime from RFC 3339 text; a clear argparse error otherwise."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time (e.g. 2026-12-02T04:00:00Z)") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (end it with Z for UTC)")
    return when
