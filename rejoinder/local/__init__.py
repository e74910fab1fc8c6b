"""Local mode: the operator's pipeline on one machine (`rejoinder up`)."""
