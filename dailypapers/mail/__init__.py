"""Mail for every feature: how it leaves (mailer), how it is built (render, templates), and
which addresses it may go to (addresses)."""
