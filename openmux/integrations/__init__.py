"""Classes that plug OpenMux into other frameworks; each needs its own extra."""
