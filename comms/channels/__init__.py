"""Channel adapters: one module per service on the shared base in `base.py`."""
