"""Construction of the Kubernetes objects the GM creates for workers (gm.md §2-3). Pure functions only."""
