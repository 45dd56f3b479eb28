"""Names of the accounts and organizations imported from Hugging Face data.

They live in the same tables as this site's own, so they are stored under a name no local
account or organization can take (local names cannot hold ``@``) and that is one path segment:
an imported ``"admin"`` is ``admin@hf``, never the local admin. The JSON API shows the name as
Hugging Face does (:func:`public_name`), and its ``submitter`` filter finds either.
"""

from __future__ import annotations

import re

SUFFIX = "@hf"
_NOT_IN_A_SEGMENT = re.compile(r"[/\\?#%\s]+")


def stored_name(name: str) -> str:
    """The stored name of an imported account or organization called ``name``."""
    return _NOT_IN_A_SEGMENT.sub("-", name.strip()).strip("-") + SUFFIX


def public_name(stored: str) -> str:
    """The name as Hugging Face shows it (local names are returned unchanged)."""
    return stored.removesuffix(SUFFIX)


def candidates(name: str) -> list[str]:
    """Stored names a ``submitter=`` filter matches: the local account and the imported one."""
    return [name, stored_name(name)]
