"""Input/output helpers used at the edges of the package."""
