"""Use cases: they join the database (through repositories) with the estimator and schemas."""
