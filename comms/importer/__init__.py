"""Posts and figures made outside comms, read from files and written in one transaction."""
