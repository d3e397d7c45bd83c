"""Which caller may be promised a callback: pure, no I/O.

Only a number that can really be called back is promised anything: present
(not withheld or ``anonymous``), a valid Russian number by ``phonenumbers``
(not Kazakhstan's part of +7, not a premium-rate line), and allowed by the
outbound trunk's patterns. The number is dialled as it was received (the
trunk's contract); its E.164 form is only the key that de-duplicates requests.
"""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
from phonenumbers import PhoneNumberType

WITHHELD = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_NOT_CALLABLE = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.UAN})


def e164(raw: str | None) -> str | None:
    """``+7XXXXXXXXXX`` of a Russian number as a caller id carries it (``8…``, ``7…``,
    ``+7…`` or ten digits); None when it is withheld, foreign or not a valid number."""
    if raw is None or raw.strip().lower() in WITHHELD:
        return None
    text = raw.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        candidate = "+" + digits
    elif len(digits) == 11 and digits[0] in "78":
        candidate = "+7" + digits[1:]  # 8 is the trunk prefix, 7 the country code without its +
    elif len(digits) == 10:
        candidate = "+7" + digits
    else:
        return None
    try:
        parsed = phonenumbers.parse(candidate, "RU")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.region_code_for_number(parsed) != "RU":
        return None
    if phonenumbers.number_type(parsed) in _NOT_CALLABLE:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def callback_key(raw: str | None, allowed: Callable[[str], bool]) -> str | None:
    """The de-duplication key (E.164) of a caller who may be promised a callback, or None.
    ``allowed`` is the trunk's pattern check on the number as received."""
    key = e164(raw)
    if key is None or raw is None or not allowed(raw.strip()):
        return None
    return key
