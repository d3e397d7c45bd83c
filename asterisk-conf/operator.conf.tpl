[@@OP@@](endpoint-common)
context = from-operators
aors = @@OP@@
callerid = Operator @@OP@@ <@@OP@@>

[@@OP@@]
type = aor
contact = sip:@@OP@@@127.0.0.1:@@OP_PORT@@
qualify_frequency = 0
max_contacts = 1

