"""Demo data for a local install, at a scale factor (`make seed SCALE=n`).

Each domain registers one seeder: `SEEDERS[domain] = fn(conn, scale) -> {table: rows}`.
Seeders are set-based (generate_series), deterministic for a given scale, and replace their
previous demo rows, so seeding twice gives the same database.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from include.demo import ads_seed, fitness_seed, music_seed, platform_seed, social_seed, videos_seed

Seeder = Callable[[psycopg.Connection, int], dict[str, int]]

SEEDERS: dict[str, Seeder] = {
    "platform": platform_seed.seed,
    "social": social_seed.seed,
    "videos": videos_seed.seed,
    "music": music_seed.seed,
    "ads": ads_seed.seed,
    "fitness": fitness_seed.seed,
}


def seed_all(conn: psycopg.Connection, scale: int = 1) -> dict[str, int]:
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    counts: dict[str, int] = {}
    for domain, seeder in SEEDERS.items():
        for table, rows in seeder(conn, scale).items():
            counts[f"{domain}.{table}"] = rows
    return counts
