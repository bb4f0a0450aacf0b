"""`python -m bench [name ...]` (`make bench`): run the benchmarks, each in a process of its
own (`python -m bench.<module>`, so each one's peak RSS is its own), write every result to
bench/results/<module>.json and print a table. A name picks the modules containing it
(`python -m bench outbox limiter`); none runs them all. Exit status 1 if any failed or
overran its time limit.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench._harness import ROOT, result_path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_TIMEOUT = 150.0  # s per benchmark unless its module sets TIMEOUT_SECONDS


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE_DIR)]) if not m.name.startswith("_"))


def select(names: list[str]) -> list[str]:
    modules = available()
    if not names:
        return modules
    chosen: list[str] = []
    for name in names:
        matches = [m for m in modules if name == m or name.replace("-", "_") in m]
        if not matches:
            raise SystemExit(f"no benchmark matches {name!r}; available: {', '.join(modules)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the benchmark's process group (it drops its database on SIGTERM), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def module_timeout(module: str) -> float:
    """A benchmark's own time limit (`TIMEOUT_SECONDS` in its module), else the default."""
    import importlib

    return float(getattr(importlib.import_module(f"bench.{module}"), "TIMEOUT_SECONDS", DEFAULT_TIMEOUT))


def run_one(module: str, timeout: float) -> dict:
    path = result_path(module)
    path.unlink(missing_ok=True)
    print(f"== {module}", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", f"bench.{module}"], cwd=ROOT, start_new_session=True)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        code = None
    except BaseException:  # Ctrl-C: the benchmark is in its own session, stop it too
        _stop_group(proc)
        raise
    if path.exists():
        result = json.loads(path.read_text())
    else:
        result = {"name": module, "ok": False, "summary": [], "peak_rss_mb": {},
                  "wall_seconds": round(time.monotonic() - started, 2), "failures": []}
    if code is None:
        result["ok"] = False
        result["failures"].append(f"timed out after {timeout:g} s and was stopped")
    elif code != 0 and result["ok"]:
        result["ok"] = False
        result["failures"].append(f"exited with status {code}")
    if not path.exists() or code is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _fmt(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"


def table(results: list[dict]) -> str:
    rows = [("benchmark", "metric", "value", "unit")]
    for r in results:
        rss = r.get("peak_rss_mb", {})
        others = ", ".join(f"{k.replace('_', ' ')} {v} MB" for k, v in rss.items()
                           if k != "benchmark_process" and v is not None)
        status = "ok" if r.get("ok") else "FAILED"
        rows.append((r["name"], "status / wall time", status, f"{r.get('wall_seconds', 0):.1f} s"))
        rows.append((r["name"], "peak RSS, benchmark process" + (f" ({others})" if others else ""),
                     _fmt(rss.get("benchmark_process", "-")), "MB"))
        for metric, value, unit in r.get("summary", []):
            rows.append((r["name"], metric, _fmt(value), unit))
        for failure in r.get("failures", []):
            rows.append((r["name"], "FAILURE", failure, ""))
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join([str(row[0]).ljust(widths[0]), str(row[1]).ljust(widths[1]),
                                str(row[2]).rjust(widths[2]), str(row[3])]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(available())})")
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"seconds per benchmark (default: its TIMEOUT_SECONDS, else {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(available()))
        return 0
    modules = select(args.names)
    started = time.monotonic()
    results = [run_one(module, args.timeout or module_timeout(module)) for module in modules]
    print()
    print(table(results))
    print(f"\n{len(results)} benchmark(s) in {time.monotonic() - started:.0f} s; results in "
          f"{result_path('x').parent.relative_to(ROOT)}/")
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
