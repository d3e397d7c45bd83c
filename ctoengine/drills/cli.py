"""``scripts/drills [--quick] [--only NAME,...] [--json FILE]``: bring up the drills'
private stack (run/drills), run the drills one after the other, print one line
per drill and a table, write JSON, and take the stack down again.

Exit status: 0 when every drill passed (or was skipped), 1 when one failed, 2 on
wrong arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ctoengine.drills.stack import ROOT, DrillStack, Ports
from ctoengine.drills.suite import DRILLS, QUICK, Mode, run_one
from ctoengine.drills.tally import Result, table


def select(only: str | None, quick: bool) -> list[str]:
    """The drills to run, in the suite's order; unknown names raise ValueError."""
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in names if n not in DRILLS]
        if unknown:
            raise ValueError(f"unknown drill(s): {', '.join(unknown)} (known: {', '.join(DRILLS)})")
        return [n for n in DRILLS if n in names]
    return [n for n in DRILLS if n in QUICK] if quick else list(DRILLS)


async def run(names: list[str], mode: Mode, operators: int, keep: bool) -> list[Result]:
    stack = DrillStack(ROOT / "run" / "drills", Ports(), operators)
    results: list[Result] = []
    try:
        await stack.up()
        for name in names:
            print(f"drill {name}: running", file=sys.stderr, flush=True)
            r = await run_one(stack, name, mode)
            print(r.line(), flush=True)
            results.append(r)
    finally:
        if not keep:
            await stack.down()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="drills", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"the compressed subset: {', '.join(QUICK)}")
    p.add_argument("--only", help=f"comma-separated drills (of: {', '.join(DRILLS)})")
    p.add_argument("--json", type=Path, help="where to write the JSON (default run/drills/drills-TIME.json)")
    p.add_argument("--operators", type=int, help="operators in the stack (default 200; --quick 60)")
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = p.parse_args(argv)
    try:
        names = select(args.only, args.quick)
    except ValueError as e:
        p.error(str(e))
    operators = args.operators or (60 if args.quick else 200)
    if operators < 10:
        p.error("--operators must be at least 10")
    t0 = time.monotonic()
    results = asyncio.run(run(names, Mode(args.quick), operators, args.keep))
    doc: dict[str, Any] = {
        "quick": args.quick,
        "operators": operators,
        "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.monotonic() - t0, 1),
        "passed": all(r.passed for r in results) and len(results) == len(names),
        "drills": [r.as_json() for r in results],
    }
    out = args.json or ROOT / "run" / "drills" / f"drills-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    print()
    print(table(results))
    print(f"{len(results)} drill(s) in {doc['seconds']:.0f} s; JSON: {out}")
    return 0 if doc["passed"] else 1
