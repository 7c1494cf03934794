"""Query building and rank fusion: pure functions, no SQL and no model."""
