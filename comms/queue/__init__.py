"""The post state machine: compare-and-set transitions, the retry decision, reconciling."""
