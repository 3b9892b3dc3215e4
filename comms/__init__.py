"""comms: plan, schedule, publish and report on a municipality's social-media campaigns."""

__version__ = "0.1.0"
