"""From value objects to the exact bytes sent, and back: JSON, query strings, chunks. Pure."""
