"""Local stand-ins for the external APIs and an SMTP sink, in one process.

Run with `python -m sandbox`; see sandbox/README.md for the switches and how to add an API.
"""
