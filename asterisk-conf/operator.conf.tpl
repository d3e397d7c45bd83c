[@@OP@@](endpoint-common)
context = from-operators
aors = @@OP@@
callerid = Operator @@OP@@ <@@OP@@>

[@@OP@@]
type = aor
contact = sip:@@OP@@@127.0.0.1:@@OP_PORT@@
; OPTIONS every few seconds: an operator whose phone stops answering becomes "unavailable".
qualify_frequency = @@QUALIFY_S@@
qualify_timeout = 1.0
max_contacts = 1

