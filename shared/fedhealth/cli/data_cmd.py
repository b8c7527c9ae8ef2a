"""`fedhealth data download` and `fedhealth data check`.

Hook into the main parser with `add_parser(subparsers)`; the parsed namespace carries
`handler`, which returns the process exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fedhealth.errors import FedhealthError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `data` with its `download` and `check` subcommands."""
    from fedhealth.data.check import CHECKS
    from fedhealth.data.download import MANIFEST, MIRROR_ENV

    data = subparsers.add_parser("data", help="download or check a data set")
    sub = data.add_subparsers(dest="data_command", required=True)
    dl = sub.add_parser("download", help="fetch, verify and extract an open-access data set")
    dl.add_argument("name", choices=sorted(MANIFEST))
    dl.add_argument("--to", type=Path, required=True, help="folder to put the data set in")
    dl.add_argument("--mirror", default=None,
                    help=f"base URL replacing each file's host (default: ${MIRROR_ENV})")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
    dl.set_defaults(handler=run_download)
    ck = sub.add_parser("check", help="name missing or malformed files of a data set")
    ck.add_argument("name", choices=sorted(CHECKS))
    ck.add_argument("--data-dir", type=Path, required=True)
    ck.set_defaults(handler=run_check)
    return data


def run_download(args: argparse.Namespace) -> int:
    from fedhealth.data.download import download, entry

    try:
        if entry(args.name).apply_at:
            from fedhealth.data.download import credentialed_message

            print(credentialed_message(args.name, args.to))
            return 1
        folder = download(args.name, args.to, mirror=args.mirror,
                          progress=not args.no_progress and sys.stderr.isatty())
    except FedhealthError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(f"{args.name}: ready in {folder}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from fedhealth.data.check import check

    try:
        problems = check(args.name, args.data_dir)
    except FedhealthError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    for line in problems:
        print(line)
    if problems:
        print(f"{args.name}: {len(problems)} problem(s) in {args.data_dir}", file=sys.stderr)
        return 3
    print(f"{args.name}: {args.data_dir} looks complete")
    return 0
