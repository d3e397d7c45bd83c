"""Figures of a period from the call records: ``ctoengine report``.

``figures`` holds the arithmetic (the SLA definitions of docs/sla.md), pure;
``render`` the table, CSV and chart; ``command`` the database query and the
command-line arguments.
"""
