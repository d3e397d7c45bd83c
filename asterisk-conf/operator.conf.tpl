; Operator @@OP@@: identified by the From user, but every request its phone
; sends (INVITE to a feature code, REGISTER, …) is challenged with digest:
; the From user alone proves nothing.
[@@OP@@](endpoint-common)
context = from-operators
identify_by = username
auth = @@OP@@-auth
aors = @@OP@@
callerid = Operator @@OP@@ <@@OP@@>

[@@OP@@-auth]
type = auth
auth_type = userpass
username = @@OP@@
password = @@OP_PASSWORD@@

; A softphone may REGISTER (one contact: a new registration replaces the old one);
; the demo's static contact, when rendered, stays beside it.
[@@OP@@]
type = aor
@@OP_CONTACT@@
; OPTIONS every few seconds: an operator whose phone stops answering becomes "unavailable".
qualify_frequency = @@QUALIFY_S@@
qualify_timeout = 1.0
max_contacts = 1
remove_existing = yes
default_expiration = 300
maximum_expiration = 3600
minimum_expiration = 30
