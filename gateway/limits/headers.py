"""OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens} headers, for every answer
a limiter gave (admitted or 429), so that the OpenAI SDK can pace itself."""

from __future__ import annotations

from gateway.limits.base import Window


def duration(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`, `250ms`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(int(seconds + 0.999), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def window_headers(window: Window | None, kind: str) -> dict[str, str]:
    if window is None:
        return {}
    return {f"x-ratelimit-limit-{kind}": str(window.limit),
            f"x-ratelimit-remaining-{kind}": str(max(0, window.remaining)),
            f"x-ratelimit-reset-{kind}": duration(window.reset_seconds)}


def ratelimit_headers(requests: Window | None, tokens: Window | None) -> dict[str, str]:
    return {**window_headers(requests, "requests"), **window_headers(tokens, "tokens")}
