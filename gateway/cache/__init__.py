"""The response cache: exact-match keys, a Redis and an in-process store, stream replay."""
