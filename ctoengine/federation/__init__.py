"""Overflow to peer centres: load publishing, the pure decision, carrying the call."""
