"""The SIP guard: Asterisk's security log in, blocks of addresses out (fixed clock)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from ctoengine.sipguard.machine import AuthFailure, Block, Guard, Unblock, parse_security_line
from ctoengine.sipguard.service import SipGuard, blocked_conf_text

FAILED = (
    '[2026-11-26 13:10:25.189] SECURITY[2123] res_security_log.c: SecurityEvent="ChallengeResponseFailed",'
    'EventTV="2026-11-26T13:10:25.189+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="op1",'
    'SessionID="1-2388@127.0.0.1",LocalAddress="IPV4/UDP/127.0.0.1/7870",RemoteAddress="IPV4/UDP/{addr}/42010",'
    'Challenge="1795698625/cfa062d6d8479ab8175cc33febe48503",Response="882d86b879bceb4ba463516f68124cad",'
    'ExpectedResponse=""'
)
CHALLENGE = (
    '[2026-11-26 13:10:25.064] SECURITY[2123] res_security_log.c: SecurityEvent="ChallengeSent",'
    'EventTV="2026-11-26T13:10:25.064+0000",Severity="Informational",Service="PJSIP",EventVersion="1",'
    'AccountID="op1",SessionID="1-2386@127.0.0.1",LocalAddress="IPV4/UDP/127.0.0.1/7870",'
    'RemoteAddress="IPV4/UDP/127.0.0.2/42000",Challenge=""'
)


def test_the_parser_takes_failures_and_leaves_challenges() -> None:
    assert parse_security_line(FAILED.format(addr="10.0.0.7")) == AuthFailure(
        "10.0.0.7", "op1", "ChallengeResponseFailed"
    )
    assert parse_security_line(CHALLENGE) is None
    assert parse_security_line("[2026-11-26] NOTICE something else") is None
    v6 = FAILED.replace("IPV4/UDP/{addr}", "IPV6/UDP/2001:db8::1")
    assert parse_security_line(v6) == AuthFailure("2001:db8::1", "op1", "ChallengeResponseFailed")


def test_five_failures_in_the_window_block_for_the_block_time() -> None:
    g = Guard(max_failures=5, window_s=60, block_s=600)
    now = 0.0
    for _ in range(4):
        assert g.failure("10.0.0.7", now) == []
        now += 10
    assert g.failure("10.0.0.7", now) == [Block("10.0.0.7", 640.0)]
    assert g.next_deadline() == 640.0
    assert g.failure("10.0.0.7", now + 1) == []  # blocked: not counted again
    assert g.tick(639.9) == []
    assert g.tick(640.0) == [Unblock("10.0.0.7")]
    assert g.blocked == {} and g.next_deadline() is None


def test_failures_spread_wider_than_the_window_never_block() -> None:
    g = Guard(max_failures=3, window_s=60, block_s=600)
    assert [c for t in (0.0, 40.0, 80.0, 120.0, 160.0) for c in g.failure("10.0.0.7", t)] == []


def test_addresses_are_counted_apart_and_never_block_is_respected() -> None:
    g = Guard(max_failures=2, window_s=60, block_s=30, never_block=frozenset({"127.0.0.1"}))
    assert g.failure("127.0.0.1", 0) == [] and g.failure("127.0.0.1", 1) == []
    assert g.failure("10.0.0.1", 2) == []
    assert g.failure("10.0.0.2", 3) == []
    assert g.failure("10.0.0.1", 4) == [Block("10.0.0.1", 34)]
    assert "127.0.0.1" not in g.blocked


def test_blocked_conf_is_pjsip_acl() -> None:
    text = blocked_conf_text(["10.0.0.7", "2001:db8::1"])
    assert "[blocked-10-0-0-7]\ntype = acl\ndeny = 10.0.0.7/32\n" in text
    assert "deny = 2001:db8::1/128" in text
    assert "deny" not in blocked_conf_text([])


async def test_the_shell_tails_the_log_blocks_and_lifts(tmp_path: Path) -> None:
    log, conf = tmp_path / "security.log", tmp_path / "pjsip-blocked.conf"
    log.write_text(FAILED.format(addr="10.0.0.9") + "\n")  # before the start: not counted
    reloads: list[str] = []

    async def reload() -> None:
        reloads.append(conf.read_text())

    now = [0.0]
    registry = CollectorRegistry()
    guard = SipGuard(
        log, conf, reload, registry, Guard(max_failures=2, window_s=60, block_s=100), lambda: now[0]
    )
    await guard.start()
    with log.open("a") as f:
        f.write(CHALLENGE + "\n" + FAILED.format(addr="10.0.0.7") + "\n" + FAILED.format(addr="10.0.0.7"))
    await guard.step()  # the second failure's line is not finished yet
    assert reloads == []
    with log.open("a") as f:
        f.write("\n")
    await guard.step()
    assert len(reloads) == 1 and "deny = 10.0.0.7/32" in reloads[0]
    assert (
        registry.get_sample_value("ctoengine_sip_auth_failures_total", {"event": "ChallengeResponseFailed"})
        == 2
    )
    assert registry.get_sample_value("ctoengine_sip_blocks_total") == 1
    assert registry.get_sample_value("ctoengine_sip_blocked_addresses") == 1
    now[0] = 100.0
    await guard.step()
    assert len(reloads) == 2 and "deny" not in reloads[1]
    assert registry.get_sample_value("ctoengine_sip_blocked_addresses") == 0
