"""Shared memory: write, list/filter/search, get, delete (CONTRACT §4, issue #4)."""
