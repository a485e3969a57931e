"""Stores of state a client API keeps between requests (stored Responses)."""
