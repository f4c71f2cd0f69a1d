"""Evidence checks: one module per check family, registered in registry.py."""
