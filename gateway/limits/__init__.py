"""Rate limits and budgets: one interface (base.Limiter), a Redis and an in-process store."""
