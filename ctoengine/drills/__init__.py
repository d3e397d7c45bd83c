"""``scripts/drills``: fault drills against the real stack (docs/reliability.md).

- ``tally``: the pure counting of calls offered, rows written, lost and doubled.
- ``proxy``: a TCP proxy between the engine and Asterisk's ARI that can freeze.
- ``stack``: the drills' private stack, its operators, callers and database.
- ``suite``: the drills themselves.
- ``cli``: arguments, the run, the table and the JSON.
"""
