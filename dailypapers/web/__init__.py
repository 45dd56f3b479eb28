"""The web application: pages, JSON API and Atom feeds."""
