"""`fedhealth`: one command for the three services, a local federation, and predictions.

Every failure the user can fix (a bad setting, a missing file, an unreachable peer)
ends in one line naming it and a non-zero exit code (see fedhealth.errors).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fedhealth import __version__, logs
from fedhealth.errors import FedhealthError


def _coordinator(args: argparse.Namespace) -> int:
    from fedhealth.cli.options import settings_from_args
    from fedhealth_coordinator.server import run
    from fedhealth_coordinator.settings import CoordinatorSettings

    settings = settings_from_args(CoordinatorSettings, args)
    logs.configure("coordinator", json=settings.log_json, level=settings.log_level)
    return run(settings)


def _node(args: argparse.Namespace) -> int:
    from fedhealth.cli.options import settings_from_args
    from fedhealth_node.settings import NodeSettings

    settings = settings_from_args(NodeSettings, args)
    logs.configure("node", json=settings.log_json, level=settings.log_level)
    from fedhealth_node.main import run

    return run(settings)


def _keyserver(args: argparse.Namespace) -> int:
    from fedhealth.cli.options import settings_from_args
    from fedhealth_keyserver.server import run
    from fedhealth_keyserver.settings import KeyServerSettings

    settings = settings_from_args(KeyServerSettings, args)
    logs.configure("keyserver", json=settings.log_json, level=settings.log_level)
    return run(settings)


def build_parser() -> argparse.ArgumentParser:
    from fedhealth.cli import predict, run
    from fedhealth.cli.options import add_settings_arguments
    from fedhealth_coordinator.settings import CoordinatorSettings
    from fedhealth_keyserver.settings import KeyServerSettings
    from fedhealth_node.settings import NodeSettings

    parser = argparse.ArgumentParser(prog="fedhealth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fedhealth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cls, handler, text in (
        ("coordinator", CoordinatorSettings, _coordinator, "run the coordinator service"),
        ("node", NodeSettings, _node, "run one hospital node"),
        ("keyserver", KeyServerSettings, _keyserver, "run the key server"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        add_settings_arguments(p, cls)
        p.set_defaults(handler=handler)
    run.add_parser(sub)
    predict.add_parser(sub)
    for optional in ("fedhealth.cli.data_cmd", "fedhealth.cli.audit_cmd", "fedhealth.report"):
        try:
            module = __import__(optional, fromlist=["add_parser"])
        except ModuleNotFoundError:
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except FedhealthError as err:
        print(f"fedhealth {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"fedhealth {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
