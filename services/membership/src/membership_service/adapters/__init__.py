"""Credential work the use cases hand off: argon2id password hashing (in a worker thread) and
the Ed25519 keys that sign access tokens and fill the JWKS."""
