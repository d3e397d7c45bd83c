"""ctoengine: the call-handling engine of citizen telephone service centres."""

__version__ = "0.2.0"
