; A SIP trunk to the peer centre @@PEER@@ (overflow in both directions).
; The peer knows us by the From user (peer-<our id>), we know it by its own;
; either way the name alone proves nothing: each side challenges the other
; with digest and a secret of the pair (CTO_PEER_SECRET_@@PEER@@ or CTO_PEER_SECRET).
[peer-@@PEER@@](endpoint-common)
context = from-peers
identify_by = username
aors = peer-@@PEER@@
from_user = peer-@@SELF@@
; What the peer must prove when it calls us ...
auth = peer-@@PEER@@-in
; ... and what we prove when we call it.
outbound_auth = peer-@@PEER@@-out

[peer-@@PEER@@-in]
type = auth
auth_type = userpass
username = peer-@@PEER@@
password = @@PEER_SECRET@@

[peer-@@PEER@@-out]
type = auth
auth_type = userpass
username = peer-@@SELF@@
password = @@PEER_SECRET@@

[peer-@@PEER@@]
type = aor
contact = sip:127.0.0.1:@@PEER_PORT@@
