"""Webhooks for alerts: signed JSON POSTs to a user's URLs (docs/webhooks.md).

``service`` registers hooks and queues deliveries in the caller's transaction (``queue_alert``
is what the follow pipeline calls); ``delivery`` is the worker's side; ``targets`` decides
which addresses a hook may reach (SSRF); ``signature`` is the header a receiver verifies.
"""
