"""A tenant's word that a user agreed, and the user's own confirmation of it (docs/decisions/0035)."""
