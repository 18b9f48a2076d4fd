"""The I/O edge: auth, transport and pool, retries, the one request path, bulk uploads."""
