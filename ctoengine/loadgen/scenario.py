"""sipp scenarios built per test: a caller who sends RTP, presses keys, and
either hangs up or waits for the engine to; an operator softphone that rings,
answers and holds. Scenarios are generated so each test states its caller's
behaviour in Python, not in hand-copied XML.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

SIPP_SHARE = Path("/usr/share/sip-tester")
AUDIO = SIPP_SHARE / "g711a.pcap"

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
"""

_PCAP_NAMES = {"#": "pound", "*": "star"}


def dtmf_pcap(digit: str, press: int, out_dir: Path) -> Path:
    """A copy of sipp's RFC 4733 pcap for ``digit`` as the ``press``-th key of a call.

    sipp's pcaps all share one SSRC with sequence numbers and timestamps that
    depend on the digit, so Asterisk drops a key whose numbers are lower than
    the previous key's (``4`` then ``1``) as late packets. Each press gets its
    own SSRC and rising numbers, as a real phone would send.
    """
    src = SIPP_SHARE / f"dtmf_2833_{_PCAP_NAMES.get(digit, digit)}.pcap"
    data = bytearray(src.read_bytes())
    off = 24  # pcap global header
    seq_base, ts_base, ssrc = 1000 * (press + 1), 80000 * (press + 1), 0x5EED0000 + press
    first_seq = first_ts = None
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        rtp = off + 16 + 42  # Ethernet, IPv4, UDP headers
        seq, ts = struct.unpack_from(">HI", data, rtp + 2)
        first_seq = seq if first_seq is None else first_seq
        first_ts = ts if first_ts is None else first_ts
        struct.pack_into(
            ">HII", data, rtp + 2, (seq_base + seq - first_seq) & 0xFFFF, ts_base + ts - first_ts, ssrc
        )
        off += 16 + incl
    out = out_dir / f"dtmf_{press}_{_PCAP_NAMES.get(digit, digit)}.pcap"
    out.write_bytes(bytes(data))
    return out


@dataclass
class Step:
    kind: str  # "pause" | "dtmf" | "info" | "audio"
    value: str | int


@dataclass
class Caller:
    """A citizen's call: dial ``did`` from ``number``, then follow ``steps``.

    After the steps the caller waits up to ``wait_bye_ms`` for the engine to hang
    up; if it does not, the caller hangs up (``hangup_after`` decides which of
    the two the test expects — sipp's exit status says whether it happened).
    """

    number: str
    did: str = "88003336060"
    steps: list[Step] = field(default_factory=list)
    wait_bye_ms: int = 0
    expect_engine_hangup: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # extra INVITE headers (a peer centre's X-CTO-*)
    # (username, password) answering a digest challenge (401/407) to the INVITE: an
    # operator's phone dialling a feature code, a peer centre's trunk. The challenge
    # is then expected: the scenario fails if the INVITE is not challenged.
    auth: tuple[str, str] | None = None
    # The final response expected instead of a 200 (e.g. 401: challenged and not
    # proven; 403: refused; 404: no such number): the call ends there, ``steps`` unused.
    refused_with: int | None = None
    # The address sipp sends from: any of 127.0.0.0/8 reaches the loopback stack, and
    # one other than 127.0.0.1 is a stranger (not the pstn trunk's match) who can be blocked.
    source_ip: str = "127.0.0.1"

    def pause(self, ms: int) -> Caller:
        self.steps.append(Step("pause", ms))
        return self

    def dtmf(self, digits: str, gap_ms: int = 300) -> Caller:
        """RFC 4733 DTMF from sipp's pcaps, one key every ``gap_ms``."""
        for d in digits:
            self.steps.append(Step("dtmf", d))
            self.steps.append(Step("pause", gap_ms))
        return self

    def audio(self) -> Caller:
        """Speak again: sipp's audio pcap (about 6 s) from here on, while the next steps run."""
        self.steps.append(Step("audio", str(AUDIO)))
        return self

    def info(self, digits: str, gap_ms: int = 300) -> Caller:
        """DTMF as SIP INFO application/dtmf-relay."""
        for d in digits:
            self.steps.append(Step("info", d))
            self.steps.append(Step("pause", gap_ms))
        return self

    def _invite(self, cseq: int, credentials: str = "") -> str:
        extra = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return f"""  <send retrans="500">
    <![CDATA[
INVITE sip:{self.did}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{self.number}" <sip:{self.number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{self.did}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:{self.number}@[local_ip]:[local_port]>
{credentials}Max-Forwards: 70
{extra}Content-Type: application/sdp
Content-Length: [len]

{_SDP}
    ]]>
  </send>
  <recv response="100" optional="true"/>
"""

    def _ack_failure(self, cseq: int) -> str:
        """The ACK of a final non-2xx response (same branch as the INVITE: ``last_Via``)."""
        return f"""  <send>
    <![CDATA[
ACK sip:{self.did}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
"""

    def xml(self, workdir: Path) -> str:
        """The scenario; DTMF pcaps it plays are written into ``workdir``."""
        presses = 0
        body = [self._invite(1)]
        invite_cseq = 1
        if self.auth is not None:
            user, password = self.auth
            body.append(
                '  <recv response="407" auth="true" optional="true" next="challenged"/>\n'
                '  <recv response="401" auth="true"/>\n'
                '  <label id="challenged"/>\n'
                + self._ack_failure(1)
                + self._invite(2, f"[authentication username={user} password={password}]\n")
            )
            invite_cseq = 2
        if self.refused_with is not None:
            body.append(
                '  <recv response="180" optional="true"/>\n  <recv response="183" optional="true"/>\n'
                f'  <recv response="{self.refused_with}"/>\n' + self._ack_failure(invite_cseq)
            )
            return (
                '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
                '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
                '<scenario name="ctoengine refused caller">\n' + "".join(body) + "</scenario>\n"
            )
        body.append(
            f"""  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{self.number}" <sip:{self.number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: {invite_cseq} ACK
Contact: <sip:{self.number}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <nop><action><exec play_pcap_audio="{AUDIO}"/></action></nop>
"""
        )
        cseq = invite_cseq + 1
        for n, step in enumerate(self.steps):
            if step.kind == "pause":
                # A pause the engine's BYE may interrupt: hanging up on the caller
                # is a normal end, judged by the test from the call's record.
                body.append(
                    f'  <recv request="BYE" timeout="{step.value}" ontimeout="s{n}" next="bye"/>\n'
                    f'  <label id="s{n}"/>\n'
                )
            elif step.kind == "dtmf":
                pcap = dtmf_pcap(str(step.value), presses, workdir)
                presses += 1
                body.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n')
            elif step.kind == "audio":
                body.append(f'  <nop><action><exec play_pcap_audio="{step.value}"/></action></nop>\n')
            elif step.kind == "info":
                payload = f"Signal={step.value}\r\nDuration=160\r\n"
                body.append(
                    f"""  <send>
    <![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{self.number}" <sip:{self.number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: {cseq} INFO
Contact: <sip:{self.number}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

{payload}
    ]]>
  </send>
  <recv response="200"/>
"""
                )
                cseq += 1
        ok_bye = """  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"""
        if self.expect_engine_hangup:
            body.append(f'  <recv request="BYE" timeout="{self.wait_bye_ms or 30000}"/>\n')
            body.append('  <label id="bye"/>\n' + ok_bye)
        else:
            body.append(
                f"""  <send>
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{self.number}" <sip:{self.number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: {cseq} BYE
Contact: <sip:{self.number}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true" next="end"/>
  <label id="bye"/>
"""
                + ok_bye
                + '  <label id="end"/>\n'
            )
        return (
            '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
            '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            '<scenario name="ctoengine caller">\n' + "".join(body) + "</scenario>\n"
        )


def operator_xml(
    ring_ms: int = 500, hold_ms: int = 3000, answer: bool = True, sdp_port: int | None = None
) -> str:
    """An operator's softphone: rings ``ring_ms``, answers, talks ``hold_ms``, hangs up.

    ``sdp_port``: the RTP port its answer announces instead of sipp's own, so that a test
    can listen there to what Asterisk sends the phone (sipp still sends from its own port).

    It accepts a CANCEL while ringing (the caller gave up, or the ring timed
    out) and a BYE while talking (the engine or the caller ended the call).
    With ``answer=False`` it rings until cancelled (ring-no-answer).
    """
    ok_200 = """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
    sdp = _SDP if sdp_port is None else _SDP.replace("[media_port]", str(sdp_port))
    cancel_recv = (
        '<recv request="CANCEL"'
        + (f' timeout="{ring_ms}" ontimeout="answer"' if answer else "")
        + '>\n    <action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" '
        'assign_to="cseq_num"/></action>\n  </recv>\n'
    )
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="ctoengine operator">
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from_hdr"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>
      <ereg regexp="&lt;[^>]*&gt;" search_in="hdr" header="To:" assign_to="to_uri"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
  {cancel_recv}  <send>
    <![CDATA[
{ok_200}
    ]]>
  </send>
  <send>
    <![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [$cseq_num] INVITE
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" next="end"/>
  <label id="answer"/>
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec play_pcap_audio="{AUDIO}"/></action></nop>
  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup"/>
  <send>
    <![CDATA[
{ok_200}
    ]]>
  </send>
  <nop next="end"/>
  <label id="hangup"/>
  <send retrans="500">
    <![CDATA[
BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to_uri];tag=[pid]SIPpTag01[call_number]
To: [$from_hdr]
Call-ID: [call_id]
CSeq: 1 BYE
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true" next="end"/>
  <label id="options"/>
  <send>
    <![CDATA[
{ok_200}
    ]]>
  </send>
  <label id="end"/>
</scenario>
"""


def register_xml(
    user: str, password: str | None, contact_port: int, expires: int = 120, expect: int = 200
) -> str:
    """A softphone's REGISTER as ``user`` whose Contact is ``127.0.0.1:contact_port``.

    Sent from sipp's own port, so the phone that takes the calls (an
    ``operator_xml`` UAS) can listen on ``contact_port``; ``expires=0`` removes the
    registration. With a ``password`` the digest challenge (401/407) is expected and
    answered; ``expect`` is the final response the scenario requires (200, or 401
    for a wrong or missing password).
    """

    def register(cseq: int, credentials: str = "") -> str:
        return f"""  <send retrans="500">
    <![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:{user}@[local_ip]:{contact_port}>
Expires: {expires}
{credentials}Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="100" optional="true"/>
"""

    body = register(1)
    if password is not None:
        body += (
            '  <recv response="407" auth="true" optional="true" next="challenged"/>\n'
            '  <recv response="401" auth="true"/>\n'
            '  <label id="challenged"/>\n'
            + register(2, f"[authentication username={user} password={password}]\n")
        )
    body += f'  <recv response="{expect}"/>\n'
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        '<scenario name="ctoengine register">\n' + body + "</scenario>\n"
    )
