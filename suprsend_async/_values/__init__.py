"""Value objects and validation: what a user builds, checked when built. Pure: no I/O."""
