"""spyproof: turn a network-equipment vendor's no-spy pledges into verifiable evidence."""

__version__ = "0.1.0"
