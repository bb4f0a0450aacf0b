"""The README's table of DAGs, generated from the DagBag so it never drifts from the code.

    python -m tools.dag_table            # print the table
    python -m tools.dag_table --write README.md   # replace it between the markers
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- dag-table:begin -->", "<!-- dag-table:end -->"


def _schedule(dag) -> str:
    timetable = dag.timetable
    condition = getattr(timetable, "asset_condition", None)  # AssetOrTimeSchedule: a cron or an asset
    if condition is not None and getattr(timetable, "timetable", None) is not None:
        assets = ", ".join(f"`{getattr(a, 'name', a)}`" for a in getattr(condition, "objects", (condition,)))
        return f"{_schedule_of(timetable.timetable)} or asset {assets}"
    return _schedule_of(timetable)


def _schedule_of(timetable) -> str:
    expression = getattr(timetable, "expression", None)
    if expression:
        return f"`{expression}` ({timetable.timezone})"
    return "manual" if timetable.__class__.__name__ == "NullTimetable" else timetable.summary


def _summary(dag) -> str:
    """The first paragraph of the doc_md after its title, on one line."""
    lines = (dag.doc_md or "").strip().splitlines()[1:]
    paragraph = []
    for line in lines:
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    return " ".join(paragraph).replace("|", "\\|")


def render(dags) -> str:
    rows = ["| DAG | schedule | queue | what it does |", "|---|---|---|---|"]
    for dag_id in sorted(dags):
        dag = dags[dag_id]
        queues = sorted({t.queue for t in dag.tasks})
        rows.append(f"| `{dag_id}` | {_schedule(dag)} | {', '.join(queues)} | {_summary(dag)} |")
    return "\n".join(rows)


def load_dags():
    os.environ.setdefault("JOBYARD_ROOT", str(ROOT))
    from include.orchestration.dagbag import load_dags as parse_dags

    return parse_dags(ROOT / "dags")


def replace_table(text: str, table: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"markers {BEGIN} ... {END} not found")
    return pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.dag_table")
    parser.add_argument("--write", type=Path, help="a Markdown file to update in place")
    args = parser.parse_args()
    table = render(load_dags())
    if args.write:
        args.write.write_text(replace_table(args.write.read_text(), table))
    else:
        print(table)


if __name__ == "__main__":
    main()
