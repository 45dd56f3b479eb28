"""Email addresses as people type them: checked, and normalized for writing and for comparing."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_email(raw: str) -> tuple[str, str]:
    """(address to write to, address as compared); ValueError with a message people can act on.

    Syntax only: whether the mailbox exists is learnt by the confirmation mail."""
    text = raw.strip()
    if not text:
        raise ValueError("Enter your email address.")
    if any(not ch.isprintable() for ch in text) or len(text) > 254:
        raise ValueError("This is not an email address.")
    try:
        # No SMTPUTF8 addresses: a relay without that extension would bounce every digest.
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"This is not a valid email address: {exc}") from None
    # An internationalized domain is kept in its ASCII (IDNA) form, which every relay takes.
    address = result.ascii_email or result.normalized
    return address, address.lower()
