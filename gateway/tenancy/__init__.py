"""Tenants, their API keys, tiers and the audit log."""
