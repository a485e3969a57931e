"""Bedrock's per-request SigV4 signing, before and after issue 21:

    python -m bench.sign_cost            # ~10 s

before  botocore's SigV4Auth on an AWSRequest, as the provider signed until issue 21: the
        signing key's four HMACs, URL parsing and header bookkeeping on every request;
after   providers.bedrock.signing.sign: the key derived once per secret, day and region,
        a URL's canonical path and host once per URL.
Rounds take turns; the median is printed (the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from providers.bedrock.signing import SIGNING_NAME, default_endpoint, model_path, sign

CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
URL = default_endpoint("us-east-1") + model_path("anthropic.claude-3-haiku-20240307-v1:0", "converse")
BODY = b'{"messages":[{"role":"user","content":[{"text":"' + b"x" * 2000 + b'"}]}],"inferenceConfig":{}}'
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def botocore_sign() -> dict[str, str]:
    request = AWSRequest(method="POST", url=URL, data=BODY, headers=HEADERS)
    SigV4Auth(CREDENTIALS, SIGNING_NAME, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def per_call_us(n: int, call: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"before (botocore)": [], "after": []}
    for _ in range(args.rounds):
        results["before (botocore)"].append(per_call_us(args.n, botocore_sign))
        results["after"].append(per_call_us(args.n, lambda: sign(CREDENTIALS, "us-east-1", URL, BODY, HEADERS)))
    print(f"SigV4 signing of a 2 KB Bedrock request, median of {args.rounds} rounds of {args.n}:")
    for name, values in results.items():
        print(f"  {name:<18} {statistics.median(values):7.1f} us/request   (rounds: "
              f"{', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
