"""CLI: python -m sandbox --http-port 8025 --smtp-port 2525 [--data-dir DIR]

Ports default to $JOBYARD_SANDBOX_PORT / $JOBYARD_SMTP_PORT (else 8025 / 2525); fault
switches can be preset with $SANDBOX_FAULTS='{"fcm": {"status_5xx": 2}}'."""

from __future__ import annotations

import argparse
import logging
import os

from sandbox.faults import parse_preset
from sandbox.server import DEFAULT_DATA_DIR, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("JOBYARD_SANDBOX_HOST", "127.0.0.1"),
                        help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--http-port", type=int,
                        default=int(os.environ.get("JOBYARD_SANDBOX_PORT", "8025")))
    parser.add_argument("--smtp-port", type=int,
                        default=int(os.environ.get("JOBYARD_SMTP_PORT", "2525")))
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                        help="where emails.jsonl is kept (default: %(default)s)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "debug":  # aiosmtpd logs every SMTP command at INFO
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    faults = parse_preset(os.environ.get("SANDBOX_FAULTS", ""))
    serve(args.http_port, args.smtp_port, args.data_dir, faults, args.log_level, args.host)


if __name__ == "__main__":
    main()
