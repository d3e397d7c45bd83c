"""The sipp scenarios the e2e tests generate: well-formed, and the digest
challenge, the refusal and the REGISTER written the way sipp expects."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ctoengine.loadgen.scenario import Caller, register_xml


def _steps(xml: str) -> list[tuple[str, dict[str, str]]]:
    return [(el.tag, dict(el.attrib)) for el in ET.fromstring(xml)]


def test_a_feature_code_call_answers_the_challenge_then_counts_cseq_on(tmp_path: Path) -> None:
    xml = Caller("op1", did="*13", auth=("op1", "s3cret"), expect_engine_hangup=True).xml(tmp_path)
    steps = _steps(xml)
    assert ("recv", {"response": "401", "auth": "true"}) in steps
    assert "[authentication username=op1 password=s3cret]" in xml
    assert xml.count("INVITE sip:*13@") == 2
    assert "CSeq: 1 ACK" in xml  # the ACK of the 401
    assert "CSeq: 2 ACK" in xml  # the ACK of the 200 to the authenticated INVITE


def test_a_refused_call_ends_at_the_expected_response(tmp_path: Path) -> None:
    xml = Caller("op1", did="*13", refused_with=401).xml(tmp_path)
    steps = _steps(xml)
    assert steps[-2] == ("recv", {"response": "401"})
    assert steps[-1][0] == "send" and "CSeq: 1 ACK" in xml
    assert "[authentication" not in xml
    assert 'response="200"' not in xml


def test_a_plain_citizen_call_is_unchanged(tmp_path: Path) -> None:
    xml = Caller("79160000000").pause(500).xml(tmp_path)
    assert "[authentication" not in xml and 'response="401"' not in xml
    assert "CSeq: 1 ACK" in xml and "CSeq: 2 BYE" in xml


def test_register_with_a_password_and_without() -> None:
    xml = register_xml("op1", "s3cret", 7000, expires=60)
    assert "Contact: <sip:op1@[local_ip]:7000>" in xml
    assert "Expires: 60" in xml
    assert "[authentication username=op1 password=s3cret]" in xml
    assert _steps(xml)[-1] == ("recv", {"response": "200"})
    bare = register_xml("op1", None, 7000, expect=401)
    assert "[authentication" not in bare
    assert _steps(bare)[-1] == ("recv", {"response": "401"})
