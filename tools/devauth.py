"""Development-only token issuer, standing in for membership until it exists (issue 4).

    uv run python -m tools.devauth serve            # JWKS on 127.0.0.1:8005 (make run does it)
    uv run python -m tools.devauth token --admin    # print a bearer token for the dev admin
    uv run python -m tools.devauth token --sub alice

The Ed25519 key lives in `.data/dev-auth-key.pem`. Tokens carry the development issuer and
audience, which production settings refuse: nothing signed here is accepted in production.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.testing.tokens import TestTokenIssuer

KEY_FILE = Path(".data") / "dev-auth-key.pem"
KID = "dev-auth"


def load_issuer() -> TestTokenIssuer:
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        KEY_FILE.write_bytes(pem)
        KEY_FILE.chmod(0o600)
    key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return TestTokenIssuer(key=key, kid=KID)


def serve(port: int) -> None:
    issuer = load_issuer()
    url = issuer.serve_jwks(port)
    print(f"dev-auth: JWKS at {url}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    issuer.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="devauth", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    serve_cmd = commands.add_parser("serve", help="serve the JWKS")
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("DEVAUTH_PORT", 8005)))
    token_cmd = commands.add_parser("token", help="print a bearer token")
    token_cmd.add_argument("--sub", default="dev-member", help="member id (subject)")
    token_cmd.add_argument("--admin", action="store_true", help="the admin role")
    token_cmd.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    args = parser.parse_args()
    if args.command == "token":
        roles = ["admin"] if args.admin else ["customer"]
        subject = "dev-admin" if args.admin and args.sub == "dev-member" else args.sub
        print(load_issuer().token(subject, roles, expires_in=args.ttl))
    else:
        serve(getattr(args, "port", int(os.environ.get("DEVAUTH_PORT", 8005))))


if __name__ == "__main__":
    main()
