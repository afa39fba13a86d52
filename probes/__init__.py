"""JAX probe workloads (standalone: never imported by the web process)."""
