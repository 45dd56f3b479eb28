"""What each user keeps and has seen (issue 17): services that take a session, never commit.

- ``saves``: saving papers, private notes.
- ``collections``: named sets of saved papers, private unless made public.
- ``marks``: reading memory (opened, read, dismissed; "sent" from the digests' own record) and
  the visit clock behind "new since your last visit".
- ``listing``: the library page (sort, collection filter, search within the library).
- ``imports`` / ``exports``: BibTeX, CSL JSON, RIS and id lists in (``dailypapers.citations``
  parses them) and out, and the JSON of everything.
"""


class LibraryError(ValueError):
    """A refused action, with a message for the person who tried it."""


class NotFoundError(LibraryError):
    """The paper, collection or import named is not there (or not this user's): a 404."""
