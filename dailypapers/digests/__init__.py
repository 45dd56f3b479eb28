"""Email digests: subscriptions, composing a period's papers, rendering and sending them."""
