"""Login and TLS material for a nats-server that demands them, made fresh in a test's folder.

Each helper writes the client's files and returns them with the server's configuration
text for ``NatsServer(workdir, config)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys
import trustme

JWT_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    client_cert: Path
    client_key: Path
    server_config: str


def tls_files(directory: Path, *, verify_clients: bool = False) -> TlsFiles:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate."""
    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1", "localhost"), ca.issue_cert("petrosa-test")
    paths = {
        "ca.pem": ca.cert_pem.bytes(),
        "server.pem": b"".join(pem.bytes() for pem in server.cert_chain_pems),
        "server.key": server.private_key_pem.bytes(),
        "client.pem": b"".join(pem.bytes() for pem in client.cert_chain_pems),
        "client.key": client.private_key_pem.bytes(),
    }
    for name, content in paths.items():
        (directory / name).write_bytes(content)
    verify = f'ca_file: "{directory / "ca.pem"}"\n  verify: true' if verify_clients else ""
    config = (
        f'tls {{\n  cert_file: "{directory / "server.pem"}"\n'
        f'  key_file: "{directory / "server.key"}"\n  {verify}\n}}\n'
    )
    ca_file, cert, key = (directory / name for name in ("ca.pem", "client.pem", "client.key"))
    return TlsFiles(ca_file, cert, key, config)


def new_seed(prefix: int) -> bytes:
    """A fresh NKey seed of the role ``prefix`` (``nkeys.PREFIX_BYTE_USER``, ...)."""
    return bytes(nkeys.encode_seed(os.urandom(32), prefix))


def public_key(seed: bytes) -> str:
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


def nkey_user(directory: Path) -> tuple[Path, str]:
    """A user NKey: its seed file for the client and the server's ``authorization`` block."""
    seed = new_seed(nkeys.PREFIX_BYTE_USER)
    path = directory / "user.nk"
    path.write_bytes(seed + b"\n")
    return path, f'authorization {{ users = [ {{ nkey: "{public_key(seed)}" }} ] }}\n'


def credentials_file(directory: Path) -> tuple[Path, str]:
    """Operator mode: an operator, an account and a user whose JWT and seed go in a .creds file.

    The account JWTs are preloaded into the server's memory resolver, as ``nsc`` would push
    them; JetStream needs a system account of its own.
    """
    operator, system, account, user = (
        new_seed(prefix)
        for prefix in (
            nkeys.PREFIX_BYTE_OPERATOR,
            nkeys.PREFIX_BYTE_ACCOUNT,
            nkeys.PREFIX_BYTE_ACCOUNT,
            nkeys.PREFIX_BYTE_USER,
        )
    )
    unlimited = {"subs": -1, "data": -1, "payload": -1}
    limits = unlimited | {"imports": -1, "exports": -1, "conn": -1, "leaf": -1}
    jetstream = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
    operator_jwt = signed_jwt(operator, operator, {"type": "operator", "version": 2})
    accounts = {
        public_key(system): signed_jwt(
            operator, system, {"type": "account", "version": 2, "limits": limits}
        ),
        public_key(account): signed_jwt(
            operator, account, {"type": "account", "version": 2, "limits": limits | jetstream}
        ),
    }
    user_jwt = signed_jwt(account, user, {"type": "user", "version": 2, **unlimited})
    path = directory / "user.creds"
    path.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user.decode()}\n------END USER NKEY SEED------\n"
    )
    preload = ", ".join(f'{key}: "{jwt}"' for key, jwt in accounts.items())
    config = (
        f'operator: "{operator_jwt}"\nsystem_account: {public_key(system)}\n'
        f"resolver: MEMORY\nresolver_preload: {{ {preload} }}\n"
    )
    return path, config


def signed_jwt(issuer: bytes, subject: bytes, nats: dict[str, Any]) -> str:
    """A NATS JWT: claims about ``subject`` signed with ``issuer``'s Ed25519 key."""
    claims: dict[str, Any] = {
        "iat": int(time.time()),
        "iss": public_key(issuer),
        "name": nats["type"],
        "sub": public_key(subject),
        "nats": nats,
    }
    digest = hashlib.sha512(json.dumps(claims, sort_keys=True).encode()).digest()[:32]
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    body = f"{_b64(json.dumps(JWT_HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = nkeys.from_seed(bytearray(issuer)).sign(body.encode())
    return f"{body}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
