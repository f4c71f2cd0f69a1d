"""Provenance: C2SP signed notes, keys and trust policies for signed, logged statements."""
