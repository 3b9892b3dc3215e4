"""Fake services for adapter tests: real HTTP on 127.0.0.1, enforcing the real APIs' rules."""
