"""Signing keys: HS256 and EdDSA, kid, the JWKS a peer verifies with, and key rotation."""

from __future__ import annotations

import threading

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server

from service.config import ConfigError
from service.config import load_config
from service.keys import KeyRing
from service.keys import thumbprint
from tests.conftest import TEST_SECRET
from tests.conftest import public_pem
from tests.conftest import write_ed25519_key


def test_thumbprint_matches_rfc_8037_example():
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}

    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.fixture
def eddsa_settings(tmp_path):
    """Settings of an app that signs with a new Ed25519 key; the key is returned too."""
    path, key = write_ed25519_key(tmp_path / "signing.pem")
    return {"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": path}, key


def sign_in(app) -> str:
    client = app.test_client()
    body = {"email": "peer@example.com", "password": "correct horse battery"}
    client.post("/auth/register", json=body)
    return client.post("/auth/login", json=body).json["access_token"]


def test_eddsa_tokens_name_their_key(make_app, database_url, eddsa_settings):
    settings, key = eddsa_settings
    app = make_app(database_url, **settings)

    token = sign_in(app)
    jwks = app.test_client().get("/.well-known/jwks.json").json

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    assert jwks["keys"][0]["kty"] == "OKP"
    assert jwks["keys"][0]["crv"] == "Ed25519"
    assert set(jwks["keys"][0]) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert jwt.decode(token, key.public_key(), algorithms=["EdDSA"], audience="time-tracker-api")


def test_hs256_publishes_no_keys(client):
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.json == {"keys": []}


@pytest.fixture
def served(make_app, database_url, eddsa_settings):
    """The EdDSA app behind a real HTTP server on 127.0.0.1; yields (app, base url)."""
    app = make_app(database_url, **eddsa_settings[0])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_a_peer_verifies_our_token_with_a_standard_jwks_client(served):
    app, base_url = served
    token = sign_in(app)
    peer = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json", timeout=5)

    signing_key = peer.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience="time-tracker-api",
        issuer="time-tracker",
    )

    assert claims["typ"] == "access"
    assert signing_key.key_id == jwt.get_unverified_header(token)["kid"]


def test_rotation_keeps_old_tokens_until_the_old_key_is_removed(make_app, database_url, tmp_path):
    old_path, old_key = write_ed25519_key(tmp_path / "old.pem")
    new_path, _ = write_ed25519_key(tmp_path / "new.pem")
    previous = tmp_path / "previous.pem"
    previous.write_bytes(public_pem(old_key))
    old_token = sign_in(
        make_app(database_url, JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=old_path)
    )
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    rotated = make_app(
        database_url,
        JWT_ALGORITHM="EdDSA",
        JWT_PRIVATE_KEY_FILE=new_path,
        JWT_PREVIOUS_PUBLIC_KEYS_FILE=str(previous),
    ).test_client()
    during = rotated.get("/auth/me", headers={"Authorization": f"Bearer {old_token}"})
    published = [k["kid"] for k in rotated.get("/.well-known/jwks.json").json["keys"]]
    retired = make_app(
        database_url, JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=new_path
    ).test_client()
    after = retired.get("/auth/me", headers={"Authorization": f"Bearer {old_token}"})

    assert during.status_code == 200
    assert old_kid in published
    assert len(published) == 2
    assert after.status_code == 401
    assert after.json["detail"] == "The token's signing key is unknown."


def test_hs256_rotation_with_previous_secrets(make_app, database_url):
    old_token = sign_in(make_app(database_url))
    new_secret = "a-brand-new-signing-secret-0123456789-abcdef"

    rotated = make_app(
        database_url,
        JWT_SECRET=new_secret,
        JWT_PREVIOUS_SECRETS=TEST_SECRET,
    ).test_client()
    during = rotated.get("/auth/me", headers={"Authorization": f"Bearer {old_token}"})
    retired = make_app(database_url, JWT_SECRET=new_secret).test_client()
    after = retired.get("/auth/me", headers={"Authorization": f"Bearer {old_token}"})

    assert during.status_code == 200
    assert after.status_code == 401


def rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "JWT_PRIVATE_KEY_FILE must name an Ed25519 PEM key"),
        (b"not a key", "not a readable PEM private key"),
        ("rsa", "must hold an Ed25519 key"),
    ],
)
def test_eddsa_needs_an_ed25519_key(make_app, database_url, tmp_path, content, message):
    settings = {"JWT_ALGORITHM": "EdDSA"}
    if content is not None:
        path = tmp_path / "key.pem"
        path.write_bytes(rsa_pem() if content == "rsa" else content)
        settings["JWT_PRIVATE_KEY_FILE"] = str(path)

    with pytest.raises(ConfigError, match=message):
        make_app(database_url, **settings)


def test_eddsa_needs_no_shared_secret(tmp_path):
    path, _ = write_ed25519_key(tmp_path / "signing.pem")

    config = load_config(env={"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": path})

    assert config["JWT_SECRET"] is None
    assert KeyRing.from_config(config).algorithm == "EdDSA"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"JWT_PREVIOUS_SECRETS": "too-short"}, "JWT_PREVIOUS_SECRETS must each be"),
        ({"JWT_ALGORITHM": "RS256"}, "JWT_ALGORITHM must be one of EdDSA, HS256"),
    ],
)
def test_bad_key_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        load_config(env={"JWT_SECRET": "s" * 40, **settings})


def ssh_public_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


PASTED_KEYS = {
    "PEM private key": lambda: rsa_pem().decode(),
    "SSH public key": ssh_public_key,
    "JWK": lambda: '{"kty": "oct", "k": "' + "A" * 43 + '"}',
}


@pytest.mark.parametrize(
    ("setting", "pasted", "message"),
    [
        *[("JWT_SECRET", kind, "must be a random shared secret") for kind in PASTED_KEYS],
        ("JWT_PREVIOUS_SECRETS", "SSH public key", "must each be a random shared secret"),
        ("JWT_PREVIOUS_SECRETS", "JWK", "must each be a random shared secret"),
        # One secret per line: a PEM falls apart into its lines, the first too short.
        ("JWT_PREVIOUS_SECRETS", "PEM private key", "must each be at least 32 bytes"),
    ],
)
def test_a_key_pasted_as_a_shared_secret_stops_the_service(setting, pasted, message):
    env = {"JWT_SECRET": "s" * 40, setting: PASTED_KEYS[pasted]()}

    with pytest.raises(ConfigError, match=f"{setting} {message}"):
        load_config(env=env)


def test_previous_public_keys_must_be_ed25519(tmp_path):
    previous = tmp_path / "previous.pem"
    previous.write_bytes(rsa_pem())
    config = load_config(
        env={"JWT_SECRET": "s" * 40, "JWT_PREVIOUS_PUBLIC_KEYS_FILE": str(previous)}
    )

    with pytest.raises(ConfigError, match="JWT_PREVIOUS_PUBLIC_KEYS_FILE"):
        KeyRing.from_config(config)
