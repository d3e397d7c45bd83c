; A SIP trunk to the peer centre @@PEER@@ (overflow in both directions).
; The peer knows us by the From user (peer-<our id>), we know it by its own.
[peer-@@PEER@@](endpoint-common)
context = from-peers
aors = peer-@@PEER@@
from_user = peer-@@SELF@@

[peer-@@PEER@@]
type = aor
contact = sip:127.0.0.1:@@PEER_PORT@@
