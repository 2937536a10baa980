"""Fuzz harnesses for archcmp's parsers; see README.md."""
