"""``ctoengine users add|list``: API users from the command line (needs only DATABASE_URL).

The password never comes on the command line (it would show in ``ps`` and in
shell history): from an environment variable named by ``--password-env``, or
typed twice at a prompt.
"""

from __future__ import annotations

import getpass
import os
import sys

from ctoengine.db.pool import connect_once
from ctoengine.errors import UsageError
from ctoengine.users.policy import Role
from ctoengine.users.secrets import hash_password, password_problem
from ctoengine.users.store import UserExists, add_user, list_users, name_problem, role_problem


def read_password(env_var: str | None) -> str:
    if env_var:
        password = os.environ.get(env_var, "")
        if not password:
            raise UsageError(f"--password-env {env_var}: that environment variable is not set or empty")
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask the password on: use --password-env VAR")
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    problem = password_problem(password)
    if problem is not None:
        raise UsageError(problem)
    return password


async def add(
    dsn: str, name: str, role: str, agent: str | None, password_env: str | None, update: bool
) -> int:
    problem = name_problem(name) or role_problem(role, agent)
    if problem is not None:
        raise UsageError(problem)
    password = read_password(password_env)
    hashed = await hash_password(password)
    conn = await connect_once(dsn, timeout=10)
    try:
        created = await add_user(conn, name, Role(role), agent or None, hashed, update=update)
    except UserExists:
        raise UsageError(f"user {name!r} exists (--update changes its role, agent and password)") from None
    finally:
        await conn.close()
    bound = f", agent {agent}" if agent else ""
    print(f"user {name} ({role}{bound}) {'added' if created else 'updated'}")
    return 0


async def list_(dsn: str) -> int:
    conn = await connect_once(dsn, timeout=10)
    try:
        users = await list_users(conn)
    finally:
        await conn.close()
    print(f"{'name':<20} {'role':<11} {'agent':<10} {'disabled':<9} created")
    for u in users:
        agent = u["agent"] or "-"
        disabled = "yes" if u["disabled"] else "no"
        print(f"{u['name']:<20} {u['role']:<11} {agent:<10} {disabled:<9} {u['created_at']}")
    return 0
