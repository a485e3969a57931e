"""Usage records: one per request, written off the request path through a durable outbox."""
