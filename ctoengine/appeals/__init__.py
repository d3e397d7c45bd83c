"""Appeals registered on calls (topic, sub-topic, outcome), the complaints' registry, and the
audited look-up of a caller's earlier calls."""
