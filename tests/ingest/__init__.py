"""Tests for :mod:`archcmp.ingest` (format sniffing and the HAR reader)."""
