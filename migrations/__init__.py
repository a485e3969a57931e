"""Alembic migrations, shipped inside the package so `llm-gateway migrate` finds them."""
