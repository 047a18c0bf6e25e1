"""Choosing an endpoint, checking how the password would travel, and translating asyncua's errors.

Security is never negotiated down: the configured policy and mode must be offered by the server exactly, or
``connect`` fails with the list of what the server does offer (OPC 10000-4 §5.4.4 GetEndpoints; the client
picks, so a downgrade could only come from the client).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.crypto import security_policies

from tonghu.collectors.opcua.certs import (
    TrustStore,
    application_uris,
    check_server_certificate,
    default_application_uri,
    ensure_application_certificate,
    first_certificate,
    load_certificate,
)
from tonghu.collectors.opcua.config import (
    CertificateIdentity,
    CleartextPassword,
    ConnectionConfig,
    Identity,
    OwnCertificate,
    Pki,
    Security,
    SecurityMode,
    SecurityPolicy,
    UsernameIdentity,
)
from tonghu.common.errors import PermanentError, TonghuError, TransientError

POLICY_CLASSES: dict[SecurityPolicy, type[security_policies.SecurityPolicy]] = {
    SecurityPolicy.NONE: security_policies.SecurityPolicyNone,
    SecurityPolicy.BASIC256SHA256: security_policies.SecurityPolicyBasic256Sha256,
    SecurityPolicy.AES128_SHA256_RSAOAEP: security_policies.SecurityPolicyAes128Sha256RsaOaep,
    SecurityPolicy.AES256_SHA256_RSAPSS: security_policies.SecurityPolicyAes256Sha256RsaPss,
}
MODES = {SecurityMode.NONE: ua.MessageSecurityMode.None_, SecurityMode.SIGN: ua.MessageSecurityMode.Sign,
         SecurityMode.SIGN_AND_ENCRYPT: ua.MessageSecurityMode.SignAndEncrypt}
_MODE_NAMES = {v: k.value for k, v in MODES.items()}
_TOKEN_NAMES = {ua.UserTokenType.Anonymous: "anonymous", ua.UserTokenType.UserName: "username",
                ua.UserTokenType.Certificate: "certificate", ua.UserTokenType.IssuedToken: "issued token"}
_NONE_URI = SecurityPolicy.NONE.uri

_LOGIN_REFUSED = {"BadUserAccessDenied", "BadIdentityTokenInvalid", "BadIdentityTokenRejected",
                  "BadUserSignatureInvalid"}
_POLICY_REFUSED = {"BadSecurityPolicyRejected", "BadSecurityModeRejected", "BadSecurityChecksFailed",
                   "BadNoValidCertificates", "BadApplicationSignatureInvalid"}


def describe_endpoint(ep: ua.EndpointDescription) -> str:
    policy = (ep.SecurityPolicyUri or "").rpartition("#")[2] or "?"
    return f"{policy}/{_MODE_NAMES.get(ep.SecurityMode, str(ep.SecurityMode))}"


def select_endpoint(endpoints: Sequence[ua.EndpointDescription], security: Security,
                    url: str) -> ua.EndpointDescription:
    """The endpoint with exactly the configured policy and mode; PermanentError lists what is offered."""
    mode = MODES[security.mode]
    for ep in endpoints:
        if ep.SecurityPolicyUri == security.policy.uri and ep.SecurityMode == mode:
            return ep
    offered = sorted({describe_endpoint(ep) for ep in endpoints}) or ["nothing"]
    raise PermanentError(f"{url} does not offer security {security.policy.value}/{security.mode.value}; it offers "
                         f"{', '.join(offered)}. Change security in the configuration or enable it on the server "
                         "(the collector never falls back to a weaker setting)")


def _token_type(identity: Identity) -> ua.UserTokenType:
    if isinstance(identity, UsernameIdentity):
        return ua.UserTokenType.UserName
    if isinstance(identity, CertificateIdentity):
        return ua.UserTokenType.Certificate
    return ua.UserTokenType.Anonymous


def user_token_policy(endpoint: ua.EndpointDescription, identity: Identity) -> ua.UserTokenPolicy:
    """The endpoint's policy for our kind of login (OPC 10000-4 §7.41); PermanentError lists the accepted kinds."""
    wanted = _token_type(identity)
    for policy in endpoint.UserIdentityTokens or []:
        if policy.TokenType == wanted:
            return policy
    accepted = sorted({_TOKEN_NAMES.get(p.TokenType, str(p.TokenType)) for p in endpoint.UserIdentityTokens or []})
    raise PermanentError(f"the {describe_endpoint(endpoint)} endpoint does not accept {_TOKEN_NAMES[wanted]} "
                         f"logins; it accepts {', '.join(accepted) or 'none'}")


def password_in_cleartext(endpoint: ua.EndpointDescription, token: ua.UserTokenPolicy) -> bool:
    """Whether a password would cross the network readable (OPC 10000-4 §7.41.3).

    The token is encrypted with its own SecurityPolicyUri (empty: the endpoint's), or protected by an encrypted
    channel; with neither, it travels as plain UTF-8.
    """
    token_policy = token.SecurityPolicyUri or endpoint.SecurityPolicyUri
    return token_policy in ("", None, _NONE_URI) and endpoint.SecurityMode != ua.MessageSecurityMode.SignAndEncrypt


def needs_server_certificate(security: Security, endpoint: ua.EndpointDescription,
                             token: ua.UserTokenPolicy) -> bool:
    """Whether the server certificate gets used, and so must be validated: a secure channel, or a user token
    encrypted or signed with a security policy (OPC 10000-4 §7.41)."""
    token_policy = token.SecurityPolicyUri or endpoint.SecurityPolicyUri
    return security.mode is not SecurityMode.NONE or (
        token.TokenType != ua.UserTokenType.Anonymous and token_policy not in ("", None, _NONE_URI))


def session_certificate(create_session_cert: bytes | None, endpoint_cert: bytes | None) -> bytes | None:
    """The server certificate to encrypt the user token with.

    Some servers (open62541) send an empty ServerCertificate in CreateSession on a None endpoint, although the
    username token policy asks for encryption; the certificate from GetEndpoints is the same one, so use it.
    """
    if create_session_cert:
        return first_certificate(create_session_cert)
    if endpoint_cert:
        return first_certificate(endpoint_cert)
    return None


class TonghuClient(Client):
    """asyncua's client with the empty-certificate fallback applied right after CreateSession."""

    def __init__(self, url: str, timeout: float, watchdog_interval: float) -> None:
        super().__init__(url, timeout=timeout, watchdog_intervall=watchdog_interval)
        self.endpoint_certificate: bytes | None = None
        self.session_opened = False  # connect() succeeded: there is a session and asyncua's tasks to stop

    async def connect(self, **kwargs: Any) -> None:
        await super().connect(**kwargs)
        self.session_opened = True

    async def create_session(self) -> ua.CreateSessionResult:
        result = await super().create_session()
        if not self.security_policy.peer_certificate:
            self.security_policy.peer_certificate = session_certificate(None, self.endpoint_certificate)
        return result


def status_name(err: ua.UaStatusCodeError) -> str:
    return ua.StatusCode(err.code).name


def translate(err: BaseException, what: str) -> TonghuError | None:
    """An asyncua or socket error as the project's vocabulary: transient (retry) or permanent (needs a person).

    None for anything else: a programming error keeps its own type and traceback.
    """
    if isinstance(err, TonghuError):
        return err
    if isinstance(err, TimeoutError):
        return TransientError(f"{what}: timed out")
    if isinstance(err, ua.UaStatusCodeError):
        name = status_name(err)
        if name in _LOGIN_REFUSED:
            return PermanentError(f"{what}: the server refused the login ({name}); check identity")
        if name.startswith("BadCertificate") or name in _POLICY_REFUSED:
            return PermanentError(f"{what}: the server refused our application certificate or security settings "
                                  f"({name}); the server may need to trust our certificate (see pki/own)")
        return TransientError(f"{what}: {name}")
    if isinstance(err, ConnectionError | OSError):
        return TransientError(f"{what}: {err.__class__.__name__}: {err}")
    if isinstance(err, ua.UaError):
        if "certificate mismatch" in str(err).lower():
            return PermanentError(f"{what}: the certificate in CreateSession differs from the one in GetEndpoints")
        return TransientError(f"{what}: {err.__class__.__name__}: {err}")
    return None


async def quiet_disconnect(client: Any, timeout: float) -> None:
    """Close session, channel and socket within ``timeout``; a dead server only costs that long."""
    if not getattr(client, "session_opened", True):
        # A failed connect left at most a socket: closing a session that never was only makes asyncua warn at
        # every retry of an outage.
        client.disconnect_socket()
        return
    try:
        await asyncio.wait_for(client.disconnect(), timeout)
    except Exception:
        client.disconnect_socket()


def own_certificate(pki: Pki, application_uri: str) -> tuple[Path, Path]:
    """Our certificate and key paths, creating a self-signed pair if configured to and needed."""
    cert_path, key_path = pki.certificate_path, pki.private_key_path
    if pki.own_certificate is OwnCertificate.GENERATE:
        ensure_application_certificate(cert_path, key_path, application_uri, pki.validity)
    elif not cert_path.exists() or not key_path.exists():
        raise PermanentError(f"own_certificate is provided, but {cert_path} or {key_path} does not exist")
    else:
        uris = application_uris(load_certificate(cert_path))
        if application_uri not in uris:
            raise PermanentError(f"{cert_path} names {uris}, not application_uri {application_uri!r}")
    return cert_path, key_path


async def open_session(cfg: ConnectionConfig, label: str) -> tuple[TonghuClient, ua.EndpointDescription]:
    """A connected, activated client on exactly the configured endpoint, the server certificate validated."""
    client = TonghuClient(cfg.endpoint, timeout=cfg.timeouts.request.total_seconds(),
                          watchdog_interval=cfg.watchdog.status_interval.total_seconds())
    try:
        endpoint = await _open(client, cfg, label)
    except BaseException:
        await quiet_disconnect(client, cfg.timeouts.request.total_seconds())
        raise
    return client, endpoint


async def _open(client: TonghuClient, cfg: ConnectionConfig, label: str) -> ua.EndpointDescription:
    app_uri = cfg.application_uri or default_application_uri()
    client.application_uri = app_uri
    client.name = client.description = f"Tonghu {label}"
    client.product_uri = "urn:tonghu:edge-agent"
    client.session_timeout = int(cfg.timeouts.session.total_seconds() * 1000)

    endpoints = await client.connect_and_get_server_endpoints()
    endpoint = select_endpoint(endpoints, cfg.security, cfg.endpoint)
    token = user_token_policy(endpoint, cfg.identity)
    identity = cfg.identity
    if (isinstance(identity, UsernameIdentity) and password_in_cleartext(endpoint, token)
            and identity.cleartext_password is CleartextPassword.REFUSE):
        raise PermanentError(f"{cfg.endpoint} would receive the password unencrypted (token policy "
                             f"{token.SecurityPolicyUri or 'None'} on a {describe_endpoint(endpoint)} "
                             "channel); use SignAndEncrypt, or set cleartext_password: allow")
    server_der = session_certificate(None, endpoint.ServerCertificate)
    if needs_server_certificate(cfg.security, endpoint, token):
        if server_der is None:
            raise PermanentError(f"{cfg.endpoint} sends no certificate, so the server cannot be authenticated")
        await asyncio.to_thread(check_server_certificate, server_der, TrustStore(cfg.pki.dir),
                                cfg.server_trust.sha256, endpoint.Server.ApplicationUri)
    client.endpoint_certificate = server_der

    if isinstance(identity, UsernameIdentity):
        client.set_user(identity.username)
        client.set_password(identity.password.get_secret_value())
    elif isinstance(identity, CertificateIdentity):
        await client.load_client_certificate(str(identity.certificate))
        pw = identity.private_key_password
        await client.load_private_key(identity.private_key, pw.get_secret_value() if pw else None)

    if cfg.security.mode is not SecurityMode.NONE:
        cert_path, key_path = await asyncio.to_thread(own_certificate, cfg.pki, app_uri)
        await client.set_security(POLICY_CLASSES[cfg.security.policy], str(cert_path), str(key_path),
                                  server_certificate=server_der, mode=MODES[cfg.security.mode])
    await client.connect()
    return endpoint
