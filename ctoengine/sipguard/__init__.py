"""Repeated SIP authentication failures from one address: counted and blocked.

Asterisk 22 has no ban of its own (res_pjsip counts nothing per address). It
does log every failed digest response as a security event (``security.log``,
logger channel ``security``, res_security_log) with the remote address, and
res_pjsip_acl refuses (403) every request from an address a ``type = acl``
section denies. So: ``machine.Guard`` decides (pure, a clock passed in),
``service.SipGuard`` tails the security log, keeps ``pjsip-blocked.conf``
(included by pjsip.conf) and asks Asterisk to reload res_pjsip (ARI
``PUT /asterisk/modules/res_pjsip.so``; no AMI).
"""
