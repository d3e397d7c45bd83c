"""``ctoengine``: run the engine, apply migrations, check a routing file.

Every error a user can cause ends in one line on stderr and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from ctoengine import __version__
from ctoengine.errors import CtoError, SettingsError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ctoengine",
        description="Call-handling engine of citizen telephone service centres (Asterisk ARI).",
        epilog="Settings come from the environment: ARI_URL, ARI_USER, ARI_PASSWORD, DATABASE_URL, "
        "CTO_API_TOKEN, CTO_HTTP_LISTEN, CTO_ROUTING, CTO_SPOOL_DIR, CTO_INSTANCE, CTO_LOG_LEVEL "
        "(or --settings FILE with KEY=value lines; the environment wins).",
    )
    p.add_argument("--version", action="version", version=f"ctoengine {__version__}")
    p.add_argument("--settings", type=Path, help="a KEY=value settings file")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the engine (Stasis application, HTTP API, record writer)")
    m = sub.add_parser("migrate", help="apply the SQL migrations to DATABASE_URL")
    m.add_argument("--dir", type=Path, help="migrations folder (default: the repo's migrations/)")
    c = sub.add_parser("config", help="routing file tools")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION")
    chk = csub.add_parser("check", help="validate a routing file; errors as FILE:LINE:COLUMN: message")
    chk.add_argument("file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SettingsError as e:
        print(f"ctoengine: {e}", file=sys.stderr)
        return 2
    except CtoError as e:
        print(f"ctoengine: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from ctoengine import logs
    from ctoengine.settings import load_settings

    if args.command == "config":
        if args.config_command != "check":
            _parser().parse_args(["config", "--help"])
        from ctoengine.config import check_main

        return check_main(args.file)
    if args.command == "migrate":
        from ctoengine.db.migrate import DEFAULT_DIR, apply

        dsn = os.environ.get("DATABASE_URL", "")
        if args.settings:
            dsn = load_settings(settings_file=args.settings).database_url.get_secret_value()
        if not dsn:
            raise SettingsError("DATABASE_URL is not set")
        done = asyncio.run(apply(dsn, args.dir or DEFAULT_DIR))
        print("migrations: " + (", ".join(done) if done else "up to date"))
        return 0
    if args.command == "run":
        settings = load_settings(settings_file=args.settings)
        logs.configure(settings.log_level)
        from ctoengine.app import serve

        asyncio.run(serve(settings))
        return 0
    _parser().print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
