"""The job contract read from ../shared/JOBS.md: dag id, schedule (as cron), queue.

JOBS.md states schedules in prose ("daily 18:00", "every 6 h (00, 06, 12, 18)"); `to_cron`
turns each form it uses into the cron expression a DAG must carry.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOBS_MD = Path(os.environ.get("JOBYARD_JOBS_MD", ROOT.parent / "shared" / "JOBS.md"))
DAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}


@dataclass(frozen=True)
class Job:
    dag_id: str
    domain: str
    schedule: str  # the prose of JOBS.md
    queue: str
    cron: str | None  # None for manual jobs
    asset_triggered: bool
    manual_params: tuple[str, ...]


def to_cron(prose: str) -> str | None:
    text = prose.lower()
    if text.startswith("manual"):
        return None
    if m := re.search(r"every (\d+) min", text):
        return f"*/{m.group(1)} * * * *"
    if m := re.search(r"every (\d+) h", text):
        return f"0 */{m.group(1)} * * *"
    if text.startswith("hourly"):
        return "0 * * * *"
    if m := re.search(r"weekly, (\w+) (\d\d):(\d\d)", text):
        return f"{int(m.group(3))} {int(m.group(2))} * * {DAYS[m.group(1)]}"
    if m := re.search(r"daily (\d\d):(\d\d)", text):
        return f"{int(m.group(2))} {int(m.group(1))} * * *"
    raise ValueError(f"JOBS.md schedule not understood: {prose!r}")


def load_jobs(path: Path = JOBS_MD) -> dict[str, Job]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the job contract lives in ../shared/JOBS.md "
                                "(set JOBYARD_JOBS_MD to another copy)")
    jobs = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] == "dag_id" or not re.fullmatch(r"[a-z]+_[a-z_]+", cells[0]):
            continue
        dag_id, schedule, queue = cells[0], cells[1], cells[2]
        jobs[dag_id] = Job(
            dag_id=dag_id,
            domain=dag_id.split("_", 1)[0],
            schedule=schedule,
            queue=queue,
            cron=to_cron(schedule.split("(asset), and ")[-1]),
            asset_triggered="asset" in schedule,
            manual_params=tuple(re.findall(r"`(\w+)`", schedule)) if schedule.startswith("manual") else (),
        )
    return jobs
