"""``ctoengine``: run the engine, apply migrations, check a routing file.

Every error a user can cause ends in one line on stderr and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ctoengine import __version__
from ctoengine.errors import CtoError, SettingsError, UsageError
from ctoengine.reports.appeals import BY as APPEALS_BY
from ctoengine.reports.figures import BY_CHOICES


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
    m.add_argument("--dir", type=Path, help="migrations folder (default: the ones shipped in the package)")
    c = sub.add_parser("config", help="routing file tools")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION")
    chk = csub.add_parser("check", help="validate a routing file; errors as FILE:LINE:COLUMN: message")
    chk.add_argument("file")
    csub.add_parser(
        "schema",
        help="print the routing file's JSON Schema (committed as config/routing.schema.json)",
    )
    shw = csub.add_parser(
        "show", help="print the effective configuration of a routing file, defaults filled in"
    )
    shw.add_argument("file")
    r = sub.add_parser(
        "report",
        help="call-handling figures of a period: a table, a CSV file, a chart",
        description="Figures from the call records in DATABASE_URL, with the SLA definitions of docs/sla.md.",
    )
    r.add_argument("--from", dest="start", required=True, help="first day (2026-11-22) or local date-time")
    r.add_argument("--to", dest="end", help="end, exclusive (default: one day after --from)")
    r.add_argument(
        "--by",
        choices=(*BY_CHOICES, *APPEALS_BY),
        default="hour",
        help="calls per hour, topic, queue or agent; or appeals per (topic/)subtopic or outcome",
    )
    r.add_argument(
        "--tz", default="Europe/Moscow", help="time zone of the dates and hours (default Europe/Moscow)"
    )
    r.add_argument("--centre", help="only this centre's calls (default: all in the database)")
    r.add_argument("--csv", type=Path, help="CSV file to write (default: report-BY-FROM.csv; '-' for none)")
    r.add_argument(
        "--chart",
        type=Path,
        help="PNG file to draw the matching chart into (needs matplotlib: pip install 'ctoengine[reports]')",
    )
    rec = sub.add_parser("records", help="call record maintenance")
    rsub = rec.add_subparsers(dest="records_command", metavar="ACTION")
    er = rsub.add_parser(
        "erase-numbers",
        help="erase caller and application numbers older than the retention: call records, restart"
        " state, announcement plays, and the record spool in CTO_SPOOL_DIR",
    )
    er.add_argument("--days", type=int, required=True, help="keep numbers of the last DAYS days")
    err = rsub.add_parser(
        "erase-recordings",
        help="delete call recordings (files in CTO_RECORDING_DIR and their rows) older than DAYS days",
    )
    err.add_argument("--days", type=int, required=True, help="keep recordings of the last DAYS days")
    u = sub.add_parser("users", help="API users (roles operator, supervisor, admin)")
    usub = u.add_subparsers(dest="users_command", metavar="ACTION")
    ua = usub.add_parser(
        "add",
        help="add an API user; the password from --password-env VAR or a prompt, never an argument",
        allow_abbrev=False,  # "--password SECRET" must not pass as --password-env
    )
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["operator", "supervisor", "admin"])
    ua.add_argument("--agent", help="the operator id this user acts as (required for --role operator)")
    ua.add_argument("--password-env", metavar="VAR", help="read the password from environment variable VAR")
    ua.add_argument(
        "--update", action="store_true", help="if the user exists, set its role, agent and password"
    )
    usub.add_parser("list", help="list the API users")
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
        if args.config_command == "schema":
            from ctoengine.config.schema import routing_schema_text

            print(routing_schema_text(), end="")
            return 0
        if args.config_command == "show":
            from ctoengine.config.schema import show_main

            return show_main(args.file)
        if args.config_command != "check":
            _parser().parse_args(["config", "--help"])
        from ctoengine.config import check_main

        return check_main(args.file)
    if args.command == "migrate":
        from ctoengine.db.migrate import DEFAULT_DIR, apply

        done = asyncio.run(apply(_dsn(args), args.dir or DEFAULT_DIR))
        print("migrations: " + (", ".join(done) if done else "up to date"))
        return 0
    if args.command == "report":
        from ctoengine.reports.command import run as report
        from ctoengine.reports.render import require_matplotlib

        if args.chart is not None:
            require_matplotlib()  # before any database work
        csv_path = args.csv or Path(f"report-{args.by}-{args.start}.csv")
        text = asyncio.run(
            report(
                _dsn(args),
                start=args.start,
                end=args.end,
                by=args.by,
                tz_name=args.tz,
                centre=args.centre,
                csv_path=None if str(csv_path) == "-" else csv_path,
                chart_path=args.chart,
            )
        )
        print(text)
        return 0
    if args.command == "records":
        if args.records_command not in ("erase-numbers", "erase-recordings"):
            _parser().parse_args(["records", "--help"])
        from ctoengine.settings import read_setting

        if args.records_command == "erase-recordings":
            folder = read_setting("CTO_RECORDING_DIR", settings_file=args.settings)
            if not folder:
                raise UsageError("CTO_RECORDING_DIR is not set: where are the recordings?")
            return asyncio.run(_erase_recordings(_dsn(args), args.days, Path(folder)))

        # Like migrate and report: no ARI settings needed, only where the spool is.
        spool = Path(read_setting("CTO_SPOOL_DIR", settings_file=args.settings) or "run/spool")
        return asyncio.run(_erase_numbers(_dsn(args), args.days, spool))
    if args.command == "users":
        from ctoengine.users import command as users

        if args.users_command == "add":
            return asyncio.run(
                users.add(_dsn(args), args.name, args.role, args.agent, args.password_env, args.update)
            )
        if args.users_command == "list":
            return asyncio.run(users.list_(_dsn(args)))
        _parser().parse_args(["users", "--help"])
    if args.command == "run":
        settings = load_settings(settings_file=args.settings)
        logs.configure(settings.log_level)
        from ctoengine.app import serve

        asyncio.run(serve(settings))
        return 0
    _parser().print_help()
    return 2


def _dsn(args: argparse.Namespace) -> str:
    """DATABASE_URL alone: migrate, report and records need no ARI settings."""
    from ctoengine.settings import load_database_url

    return load_database_url(settings_file=args.settings)


async def _erase_numbers(dsn: str, days: int, spool_dir: Path) -> int:
    from datetime import datetime

    import asyncpg

    from ctoengine.errors import DatabaseError
    from ctoengine.records.retention import erase_all

    if days < 1:
        raise UsageError("--days must be at least 1")
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as e:
        raise DatabaseError(f"cannot reach the database: {e}") from None
    try:
        done = await erase_all(conn, datetime.now().astimezone(), days, spool_dir)
    finally:
        await conn.close()
    print(
        f"caller numbers erased from {done.calls} call records older than {days} days;"
        f" restart state: {done.restart_state}, announcement plays deleted: {done.announcement_plays},"
        f" spool lines ({spool_dir}): {done.spool_lines}"
    )
    return 0


async def _erase_recordings(dsn: str, days: int, folder: Path) -> int:
    from datetime import datetime, timedelta

    import asyncpg

    from ctoengine.errors import DatabaseError
    from ctoengine.quality.retention import erase_recordings

    if days < 1:
        raise UsageError("--days must be at least 1")
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as e:
        raise DatabaseError(f"cannot reach the database: {e}") from None
    try:
        n = await erase_recordings(conn, datetime.now().astimezone() - timedelta(days=days), folder)
    finally:
        await conn.close()
    print(f"recordings older than {days} days deleted: {n} ({folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
