"""Runs sipp processes against the stack under test."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ctoengine.loadgen.scenario import Caller, register_xml

_ports = itertools.count(42000, 10)


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class SippCall:
    """One sipp caller process; ``await call.wait()`` for its result."""

    def __init__(self, proc: asyncio.subprocess.Process, workdir: Path) -> None:
        self.proc = proc
        self.workdir = workdir

    async def wait(self, timeout: float = 60) -> SippResult:
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            out, err = await self.proc.communicate()
        errors = "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))
        return SippResult(
            self.proc.returncode or 0,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            errors,
        )


async def start_call(caller: Caller, sip: str, timeout_s: int = 120) -> SippCall:
    workdir = Path(tempfile.mkdtemp(prefix="sipp-"))
    return await _start_uac(caller.xml(workdir), workdir, sip, timeout_s, caller.source_ip)


async def register(
    sip: str, user: str, password: str | None, contact_port: int, expires: int = 120, expect: int = 200
) -> SippResult:
    """REGISTER ``user`` with its ``password`` (``None``: no credentials) so that calls
    go to ``127.0.0.1:contact_port``; ``expires=0`` unregisters. See ``register_xml``."""
    workdir = Path(tempfile.mkdtemp(prefix="sipp-reg-"))
    xml = register_xml(user, password, contact_port, expires=expires, expect=expect)
    return await (await _start_uac(xml, workdir, sip, 30)).wait(40)


async def _start_uac(
    xml: str, workdir: Path, sip: str, timeout_s: int, source_ip: str = "127.0.0.1"
) -> SippCall:
    scenario = workdir / "caller.xml"
    scenario.write_text(xml, encoding="latin-1")
    port = next(_ports)
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        sip,
        "-sf",
        str(scenario),
        "-m",
        "1",
        "-l",
        "1",
        "-i",
        source_ip,
        "-p",
        str(port),
        "-mp",
        str(port + 2),
        "-timeout",
        f"{timeout_s}s",
        "-timeout_error",
        "-nostdin",
        "-trace_err",
        "-max_recv_loops",
        "1000",
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    return SippCall(proc, workdir)


async def call(caller: Caller, sip: str, timeout: float = 90) -> SippResult:
    running = await start_call(caller, sip)
    return await running.wait(timeout)


class Softphone:
    """An operator's softphone (a sipp UAS) listening on its contact port until stopped."""

    def __init__(self, proc: asyncio.subprocess.Process, workdir: Path, port: int) -> None:
        self.proc = proc
        self.workdir = workdir
        self.port = port

    @property
    def errors(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start_softphone(port: int, xml: str, media_port: int | None = None) -> Softphone:
    workdir = Path(tempfile.mkdtemp(prefix="sipp-op-"))
    scenario = workdir / "operator.xml"
    scenario.write_text(xml, encoding="latin-1")
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        # sipp binds the media port and the one two above it: keep phones 10 apart.
        str(media_port or 30000 + (port % 1000) * 10),
        "-nostdin",
        "-trace_err",
        cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    return Softphone(proc, workdir, port)
