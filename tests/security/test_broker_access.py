"""What the platform broker lets each identity do, measured on a real Mosquitto running the generated config.

If a message under another tenant's topic ever got past the broker, the ingester would still refuse it: that
second line is tests/platform/test_ingest.py::test_revoked_edge_and_other_tenants (an edge posing as another
company's site is dead-lettered as ``unregistered_edge`` and creates no tag there).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

import psycopg

from tests.conftest import make_tenant
from tests.security.conftest import SecureBroker
from tests.security.probe import (
    BAD_USER_OR_PASSWORD,
    NO_MATCHING_SUBSCRIBERS,
    NOT_AUTHORIZED,
    SUCCESS,
    Probe,
)
from tonghu.common.uplink import DEFAULT_LIMITS
from tonghu.platform.broker.settings import BrokerSettings

DELIVERED = {SUCCESS, NO_MATCHING_SUBSCRIBERS}


def _until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _connected(p: Probe, probes: list[Probe]) -> Probe:
    probes.append(p)
    outcome = p.connect()
    assert outcome.ok, outcome
    return p


def test_an_edge_publishes_only_under_its_own_topics(secure_broker: SecureBroker, db: psycopg.Connection,
                                                    probes: list[Probe]) -> None:
    b = secure_broker
    mine, other = make_tenant(db), make_tenant(db, "petrochemical")
    edge = _connected(b.as_edge(b.enrol(mine.company, mine.site, mine.edge)), probes)
    b.enrol(other.company, other.site, other.edge)
    ingester = _connected(b.as_ingester(), probes)
    assert ingester.subscribe("#", f"$share/ingest/{b.prefix}/v1/+/+/+/data") == [1, 1]

    for kind in ("data", "meta", "status"):
        assert edge.publish(b.topic(mine.company, mine.site, mine.edge, kind)) in DELIVERED
    refused = [b.topic(other.company, other.site, mine.edge, "data"),  # another company's prefix, own edge code
               b.topic(other.company, other.site, other.edge, "data"),  # posing as the other tenant's edge
               b.topic(mine.company, mine.site, other.edge, "data"),  # another edge of its own site
               b.topic(mine.company, mine.site, mine.edge, "ack"),  # acks come from the ingester only
               b.topic(other.company, other.site, other.edge, "ack"),  # a forged ack would delete unstored data
               f"{b.prefix}/v1/{mine.company}/{mine.site}/{mine.edge}/data/extra", "$SYS/broker/uptime", "other"]
    assert {t: edge.publish(t) for t in refused} == dict.fromkeys(refused, NOT_AUTHORIZED)

    own = {b.topic(mine.company, mine.site, mine.edge, k) for k in ("data", "meta", "status")}
    assert _until(lambda: own <= set(ingester.received()))
    time.sleep(0.5)  # anything refused would have arrived by now, right behind the accepted messages
    assert not set(ingester.received()) - own, ingester.received()


def test_an_edge_reads_nothing_but_its_own_acks(secure_broker: SecureBroker, db: psycopg.Connection,
                                              probes: list[Probe]) -> None:
    b = secure_broker
    mine, other = make_tenant(db), make_tenant(db)
    edge = _connected(b.as_edge(b.enrol(mine.company, mine.site, mine.edge)), probes)
    neighbour = _connected(b.as_edge(b.enrol(other.company, other.site, other.edge)), probes)
    filters = ["#", f"{b.prefix}/#", f"{b.prefix}/v1/+/+/+/data", f"$share/ingest/{b.prefix}/v1/+/+/+/data",
               b.topic(other.company, other.site, other.edge, "ack"), "$SYS/#",
               b.topic(mine.company, mine.site, mine.edge, "ack")]
    # Mosquitto 2.0 grants these subscriptions and enforces read access on every delivery instead.
    assert all(code in (0, 1, NOT_AUTHORIZED) for code in edge.subscribe(*filters))
    # Retained status of another edge, its data, an ack for it, and one ack for us.
    assert neighbour.publish(b.topic(other.company, other.site, other.edge, "data")) in DELIVERED
    neighbour.client.publish(b.topic(other.company, other.site, other.edge, "status"), b"s", qos=1, retain=True)
    ingester = _connected(b.as_ingester(), probes)
    assert ingester.publish(b.topic(other.company, other.site, other.edge, "ack")) in DELIVERED
    assert ingester.publish(b.topic(mine.company, mine.site, mine.edge, "ack")) in DELIVERED
    assert _until(lambda: b.topic(mine.company, mine.site, mine.edge, "ack") in edge.received())
    time.sleep(0.5)
    assert set(edge.received()) == {b.topic(mine.company, mine.site, mine.edge, "ack")}
    # A fresh subscription sees no retained message of another edge either.
    late = _connected(b.as_edge(b.enrol(mine.company, mine.site, mine.edge, "--rotate")), probes)
    late.subscribe("#")
    time.sleep(0.5)
    assert late.received() == []


def test_the_ingester_reads_every_edge_and_writes_only_acks(secure_broker: SecureBroker, db: psycopg.Connection,
                                                           probes: list[Probe]) -> None:
    b = secure_broker
    t = make_tenant(db)
    edge = _connected(b.as_edge(b.enrol(t.company, t.site, t.edge)), probes)
    ingester = _connected(b.as_ingester(), probes)
    assert ingester.subscribe(f"$share/ingest/{b.prefix}/v1/+/+/+/data", f"{b.prefix}/v1/+/+/+/status") == [1, 1]
    assert edge.publish(b.topic(t.company, t.site, t.edge, "data")) == SUCCESS
    assert _until(lambda: b.topic(t.company, t.site, t.edge, "data") in ingester.received())
    for kind in ("data", "meta", "status"):
        assert ingester.publish(b.topic(t.company, t.site, t.edge, kind)) == NOT_AUTHORIZED
    assert ingester.publish(b.topic(t.company, t.site, t.edge, "ack")) in DELIVERED


def test_anonymous_wrong_password_plaintext_and_old_tls_are_refused(secure_broker: SecureBroker,
                                                                   db: psycopg.Connection,
                                                                   probes: list[Probe]) -> None:
    b = secure_broker
    t = make_tenant(db)
    uplink = b.enrol(t.company, t.site, t.edge)
    cases = {"anonymous": b.probe(None, None), "wrong password": b.probe(uplink["username"], "not-the-password"),
             "unknown user": b.probe("edge.nobody.nowhere.none", uplink["password"]),
             "plaintext on the TLS port": Probe(b.tls_port, uplink["username"], uplink["password"]),
             "TLS 1.1": b.probe(uplink["username"], uplink["password"], maximum=ssl.TLSVersion.TLSv1_1),
             "no client certificate on the mTLS port": Probe(b.mtls_port, uplink["username"], uplink["password"],
                                                             b.probe(None, None).tls)}
    outcomes = {}
    for name, p in cases.items():
        probes.append(p)
        outcomes[name] = p.connect(timeout=5)
    assert not any(o.ok for o in outcomes.values()), outcomes
    assert outcomes["anonymous"].reason in (NOT_AUTHORIZED, BAD_USER_OR_PASSWORD)
    assert outcomes["wrong password"].reason in (NOT_AUTHORIZED, BAD_USER_OR_PASSWORD)
    assert outcomes["unknown user"].reason in (NOT_AUTHORIZED, BAD_USER_OR_PASSWORD)
    assert outcomes["plaintext on the TLS port"].reason is None
    assert "ALERT_PROTOCOL_VERSION" in outcomes["TLS 1.1"].error, outcomes["TLS 1.1"]  # the broker's alert
    # The same credentials work over TLS 1.2 and 1.3: the refusals above are the broker's policy.
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        good = b.probe(uplink["username"], uplink["password"], maximum=version)
        probes.append(good)
        assert good.connect().ok, version


def test_revoke_drops_the_session_and_refuses_reconnection(secure_broker: SecureBroker, db: psycopg.Connection,
                                                          probes: list[Probe]) -> None:
    b = secure_broker
    t = make_tenant(db)
    uplink = b.enrol(t.company, t.site, t.edge)
    edge = _connected(b.as_edge(uplink), probes)
    result = b.revoke(t.company, t.site, t.edge)
    assert f"removed: {uplink['username']}" in result.output and "reloaded" in result.output
    # The broker rereads its password file on SIGHUP and closes sessions whose password no longer checks.
    assert edge.disconnected.wait(10), "the revoked edge's session was not closed"
    again = b.as_edge(uplink)
    probes.append(again)
    outcome = again.connect(timeout=5)
    assert not outcome.ok and outcome.reason in (NOT_AUTHORIZED, BAD_USER_OR_PASSWORD), outcome
    # Enrolling again issues new credentials; the old password stays dead.
    fresh = b.enrol(t.company, t.site, t.edge)
    assert fresh["password"] != uplink["password"]
    assert _connected(b.as_edge(fresh), probes).publish(b.topic(t.company, t.site, t.edge, "data")) in DELIVERED
    stale = b.as_edge(uplink)
    probes.append(stale)
    assert not stale.connect(timeout=5).ok


def test_client_certificate_identity_and_its_revocation(secure_broker: SecureBroker, db: psycopg.Connection,
                                                        probes: list[Probe]) -> None:
    b = secure_broker
    t = make_tenant(db)
    uplink = b.enrol(t.company, t.site, t.edge, "--auth", "certificate")
    assert uplink["port"] == b.mtls_port and "password" not in uplink
    edge = _connected(b.as_edge(uplink), probes)
    assert edge.publish(b.topic(t.company, t.site, t.edge, "data")) in DELIVERED
    assert edge.publish(b.topic(t.company, t.site, "someone-else", "data")) == NOT_AUTHORIZED
    # The certificate is no password: it does not open the password listener.
    plain = b.probe(f"edge.{t.company}.{t.site}.{t.edge}", "")
    probes.append(plain)
    assert not plain.connect(timeout=5).ok

    b.revoke(t.company, t.site, t.edge)
    # Mosquitto keeps a certificate session open on reload, but its ACL is gone at once...
    assert _until(lambda: edge.disconnected.is_set()
                  or edge.publish(b.topic(t.company, t.site, t.edge, "data")) == NOT_AUTHORIZED)
    # ...and the CRL refuses the certificate from then on.
    again = b.as_edge(uplink)
    probes.append(again)
    assert not again.connect(timeout=5).ok


def test_an_oversized_packet_is_refused_by_the_broker(secure_broker: SecureBroker, db: psycopg.Connection,
                                                      probes: list[Probe]) -> None:
    b = secure_broker
    t = make_tenant(db)
    uplink = b.enrol(t.company, t.site, t.edge)
    edge = _connected(b.as_edge(uplink), probes)
    ingester = _connected(b.as_ingester(), probes)
    ingester.subscribe(f"{b.prefix}/v1/+/+/+/data")
    topic = b.topic(t.company, t.site, t.edge, "data")
    limit = BrokerSettings().max_packet_size
    assert limit > DEFAULT_LIMITS.max_payload_bytes  # the largest payload the ingester accepts still fits
    edge.client.publish(topic, b"\0" * limit, qos=1)
    assert edge.disconnected.wait(30), "the broker kept a client that sent an oversized packet"
    edge.close()
    small = _connected(b.as_edge(uplink), probes)
    assert small.publish(topic, b"small") == SUCCESS
    assert _until(lambda: ingester.received() == [topic])
    time.sleep(0.5)
    assert [len(p) for _, p in ingester.messages] == [5]


def test_an_offline_ingester_keeps_more_than_the_stock_1000_queued_messages(secure_broker: SecureBroker,
                                                                           db: psycopg.Connection,
                                                                           probes: list[Probe]) -> None:
    """Stock Mosquitto queues 1 000 messages per offline session and drops the rest silently."""
    b = secure_broker
    t = make_tenant(db)
    edge = _connected(b.as_edge(b.enrol(t.company, t.site, t.edge)), probes)
    ident = b.ingester_identity()
    session = {"client_id": f"ingest-{t.edge}", "session_expiry": 600}
    ingester = _connected(Probe(b.tls_port, ident["username"], ident["password"], b.probe(None, None).tls, **session),
                          probes)
    ingester.subscribe(f"$share/ingest/{b.prefix}/v1/+/+/+/data")
    ingester.close()
    assert ingester.disconnected.wait(5)
    topic = b.topic(t.company, t.site, t.edge, "data")
    for i in range(1500):
        edge.client.publish(topic, i.to_bytes(2, "big"), qos=1)
    assert edge.publish(topic, b"last") == SUCCESS  # QoS 1 in order: everything before it reached the broker
    back = _connected(Probe(b.tls_port, ident["username"], ident["password"], b.probe(None, None).tls, **session),
                      probes)
    assert _until(lambda: len(back.messages) >= 1501, 30), len(back.messages)
    assert sorted(p for _, p in back.messages if p != b"last") == [i.to_bytes(2, "big") for i in range(1500)]
