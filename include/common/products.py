"""The product each domain's messages speak for: the "From" name of its emails, the title of
its pushes and the header of the message layout. Its own module so that email, push and
the outbox share it without importing each other."""

from __future__ import annotations

PRODUCTS = {
    "videos": "RedNote Analytics",
    "social": "Social",
    "music": "Music Charts",
    "ads": "Ad Performance",
    "fitness": "Fitness",
    "platform": "jobyard operations",
}


def product_name(domain: str) -> str:
    try:
        return PRODUCTS[domain]
    except KeyError:
        raise ValueError(f"unknown domain {domain!r}; one of {sorted(PRODUCTS)}") from None
