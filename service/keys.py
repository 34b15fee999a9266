"""Signing and verification keys, named by `kid`, and their public JWKS.

One key signs (HS256 shared secret or Ed25519 private key); retired keys stay for
verification until they are removed from the settings. A key's `kid` is its RFC 7638
JWK thumbprint, so it is the same on every replica and reveals nothing secret. Keys are
parsed once, when the application starts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.config import ConfigError

HS256 = "HS256"
EDDSA = "EdDSA"
PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


@dataclass(frozen=True)
class VerificationKey:
    """One key tokens may be checked with, and the only algorithm it accepts."""

    kid: str
    algorithm: str
    key: Any
    jwk: dict[str, str] | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def thumbprint(members: dict[str, str]) -> str:
    """Return the RFC 7638 thumbprint of a JWK's required MEMBERS."""
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return _b64(hashlib.sha256(canonical).digest())


def hmac_key(secret: str) -> VerificationKey:
    """Wrap an HS256 shared secret from the settings; it is never published."""
    raw = secret.encode()
    kid = thumbprint({"k": _b64(raw), "kty": "oct"})
    return VerificationKey(kid, HS256, raw, None)


def ed25519_key(public_key: Ed25519PublicKey) -> VerificationKey:
    """Wrap an Ed25519 public key with its OKP JWK."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    kid = thumbprint(members)
    return VerificationKey(
        kid, EDDSA, public_key, {**members, "kid": kid, "alg": EDDSA, "use": "sig"}
    )


def load_private_key(pem: str) -> Ed25519PrivateKey:
    """Parse an unencrypted Ed25519 private key in PEM."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"JWT_PRIVATE_KEY_FILE is not a readable PEM private key: {exc}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("JWT_PRIVATE_KEY_FILE must hold an Ed25519 key")
    return key


def load_public_keys(pem_text: str) -> list[Ed25519PublicKey]:
    """Parse every PEM block in PEM_TEXT as an Ed25519 public key."""
    keys = []
    for block in PEM_BLOCK.findall(pem_text):
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise ConfigError(
                f"JWT_PREVIOUS_PUBLIC_KEYS_FILE has an unreadable key: {exc}"
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError("JWT_PREVIOUS_PUBLIC_KEYS_FILE must hold Ed25519 public keys only")
        keys.append(key)
    return keys


class KeyRing:
    """The current signing key and every key a token may still be verified with."""

    def __init__(
        self,
        algorithm: str,
        signing_key: Any,
        current: VerificationKey,
        retired: Iterable[VerificationKey],
    ) -> None:
        self.algorithm = algorithm
        self.signing_key = signing_key
        self.kid = current.kid
        self._by_kid = {key.kid: key for key in (*retired, current)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KeyRing:
        """Build the ring from the JWT_* settings."""
        retired_secrets = [hmac_key(secret) for secret in config["JWT_PREVIOUS_SECRETS"]]
        retired = [ed25519_key(k) for k in load_public_keys(config["JWT_PREVIOUS_PUBLIC_KEYS"])]
        if config["JWT_ALGORITHM"] == EDDSA:
            private = load_private_key(config["JWT_PRIVATE_KEY"])
            current = ed25519_key(private.public_key())
            return cls(EDDSA, private, current, [*retired_secrets, *retired])
        current = hmac_key(config["JWT_SECRET"])
        return cls(HS256, current.key, current, [*retired_secrets, *retired])

    def find_for(self, header: dict[str, Any]) -> VerificationKey | None:
        """Return the key a token HEADER names, or None for an unknown or malformed kid.

        A header without `kid` (tokens issued before keys had ids) gets the current key.
        """
        if "kid" not in header:
            return self._by_kid[self.kid]
        kid = header["kid"]
        return self._by_kid.get(kid) if isinstance(kid, str) else None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Return the public keys as a JWK Set (shared secrets are never listed)."""
        return {"keys": [key.jwk for key in self._by_kid.values() if key.jwk is not None]}
