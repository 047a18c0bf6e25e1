"""The OPC-UA collector: connect → read → close, with recovery left to the agent's supervisor.

Notifications are not routed through asyncua's ``Subscription`` class: its handler mode starts one asyncio task
per notification and its iterator mode wraps each one in two objects and a queue hop. Instead each
subscription registers one plain callback per Publish response, which converts the monitored items straight
into ``Sample``s on a bounded list; ``read`` hands that list to the sink every ``flush_interval``.

``read`` raises TransientError when the connection drops, when a subscription stops answering (no data or
keep-alive for keepalive_count × publishing_interval × keepalive_factor, OPC 10000-4 §5.13.1.1: that is how a
frozen server shows), when the server ends a subscription (StatusChangeNotification, §7.25.4), or when
ServerStatus.StartTime changes (the server restarted). asyncua's own reconnect stays off: one owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from asyncua import ua
from asyncua.client.ua_client import UaClientState

from tonghu.collectors.base import SampleSink
from tonghu.collectors.opcua import session as ses
from tonghu.collectors.opcua.config import (
    OpcUaConfig,
    PollingGroup,
)
from tonghu.collectors.opcua.convert import TagConverter
from tonghu.collectors.opcua.resolve import (
    Link,
    Resolved,
    Watched,
    create_subscriptions,
    read_chunks,
    read_limits,
    resolve,
)
from tonghu.common.errors import NotConnectedError, TransientError
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta

log = logging.getLogger(__name__)

# ServerState values (OPC 10000-5 §12.6) after which the server serves no data.
_DEAD_STATES = {1: "Failed", 2: "NoConfiguration", 4: "Shutdown", 6: "CommunicationFault", 7: "Unknown"}


def _now_us() -> int:
    return time.time_ns() // 1000


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel and await helper tasks. Cancelling again matters: on Python 3.11 a wait_for whose inner call
    completes at the moment of cancellation returns the result and drops the cancellation."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.2)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.debug("helper task %s ended with %r", task.get_name(), task.exception())


class OpcUaCollector:
    """One OPC UA server. See the module docstring for the read loop and its failure signals."""

    def __init__(self, entry: OpcUaConfig, edge: str = "") -> None:
        self.name = entry.name
        self.cfg = entry
        self.edge = edge
        # Index = client handle of the node's monitored item, so a notification finds its tag by list index.
        self._nodes = [node for _, node in entry.all_nodes]
        self._group_of = [group for group, _ in entry.all_nodes]
        self._converters = [TagConverter(node) for node in self._nodes]
        self._pending: list[Sample] = []
        self._link: Link | None = None
        self._counters = dict.fromkeys(
            ("connects", "notifications", "keepalives", "samples_out", "overflow_drops", "polls", "poll_overruns",
             "poll_unchanged", "read_requests", "unresolved_nodes", "unknown_handles"), 0)
        self._times: dict[str, int | None] = dict.fromkeys(
            ("connected_since_us", "last_notification_us", "last_publish_us", "last_failure_us"))
        self._last_error = ""
        self._security = ""

    # ------------------------------------------------------------------------------------------ metadata, stats

    def tags(self) -> Sequence[TagMeta]:
        return [TagMeta(n.key, n.data_type.value, n.unit, n.role, n.description, dict(n.attrs)) for n in self._nodes]

    def stats(self) -> dict[str, Any]:
        """Counters since construction, and the timestamps (µs, UTC) an operator asks about after an outage."""
        return {**self._counters, **self._times,
                "connected": self._link is not None and not self._link.lost,
                "pending": len(self._pending),
                "bad_status_samples": sum(c.bad_status for c in self._converters),
                "type_mismatches": sum(c.mismatches for c in self._converters),
                "security": self._security,
                "last_error": self._last_error}

    # ------------------------------------------------------------------------------------------------ connect

    async def connect(self) -> None:
        """Open a session and create every subscription; namespaces and browse paths are resolved anew."""
        if self._link is not None:
            await self.close()
        started: list[ses.TonghuClient] = []
        try:
            async with asyncio.timeout(self.cfg.timeouts.connect.total_seconds()):
                self._link = await self._open(started)
        except Exception as err:
            for client in started:
                await ses.quiet_disconnect(client, self.cfg.timeouts.request.total_seconds())
            error = ses.translate(err, f"{self.name}: connect to {self.cfg.endpoint}")
            self._fail(str(error or repr(err)))
            if error is None or error is err:
                raise
            raise error from err
        self._counters["connects"] += 1
        self._times["connected_since_us"] = _now_us()

    async def _open(self, started: list[ses.TonghuClient]) -> Link:
        cfg = self.cfg
        client, endpoint = await ses.open_session(cfg, f"{self.edge or 'edge'}/{self.name}")
        started.append(client)
        self._security = ses.describe_endpoint(endpoint)
        link = Link(client)
        client.connection_lost_callback = link.on_lost

        limits = await read_limits(client, cfg.max_nodes_per_request, cfg.timeouts.request.total_seconds())
        link.start_time, link.limits = limits.start_time, limits
        resolved: Resolved = await resolve(client, self._nodes, limits)
        # Nodes that cannot be read are reported once per connect as bad samples, so the gap shows in the data;
        # they reach the sink only if this connect succeeds.
        failed: dict[int, int] = dict(resolved.failures)
        if not resolved.node_ids:
            raise TransientError(f"none of the {len(self._nodes)} configured nodes exists on {cfg.endpoint}: "
                                 f"{resolved.describe_failures(self._nodes)}")
        if resolved.failures:
            log.warning("%s: %d node(s) not found, reported with bad status: %s", self.name, len(resolved.failures),
                        resolved.describe_failures(self._nodes))
        link.subscriptions = await create_subscriptions(client, cfg, self._nodes, self._group_of, resolved, limits,
                                                        self._on_publish, failed.__setitem__)
        link.polls = [(g, [(h, nid) for h, nid in sorted(resolved.node_ids.items()) if self._group_of[h] is g])
                      for g in cfg.groups if isinstance(g, PollingGroup)]
        link.polls = [(g, items) for g, items in link.polls if items]
        now = _now_us()
        self._pending.extend(self._converters[h].failure(status, now) for h, status in failed.items())
        self._counters["unresolved_nodes"] = len(failed)
        log.info("%s: connected to %s (%s), %d subscription(s), %d polling group(s)", self.name, cfg.endpoint,
                 ses.describe_endpoint(endpoint), len(link.subscriptions), len(link.polls))
        return link

    def _fail(self, reason: str) -> None:
        self._last_error = reason
        self._times["last_failure_us"] = _now_us()

    # ------------------------------------------------------------------------------------------------ receive

    def _on_publish(self, watched: Watched, result: ua.PublishResult) -> None:
        """Called by asyncua's publish loop for every Publish response of one subscription."""
        if not watched.active:  # a late response of a closed connection: close() has returned
            return
        watched.last_publish = time.monotonic()
        now = _now_us()
        self._times["last_publish_us"] = now
        data = result.NotificationMessage.NotificationData
        if not data:
            self._counters["keepalives"] += 1
            return
        pending, converters = self._pending, self._converters
        for notification in data:
            items = getattr(notification, "MonitoredItems", None)
            if items is not None:
                for item in items:
                    try:
                        converter = converters[item.ClientHandle]
                    except (IndexError, TypeError):  # a handle we never gave out: a server bug, not our data
                        self._counters["unknown_handles"] += 1
                        continue
                    pending.append(converter.sample(item.Value, now))
                self._counters["notifications"] += len(items)
                self._times["last_notification_us"] = now
            elif isinstance(notification, ua.StatusChangeNotification):
                watched.status = notification.Status.value if notification.Status else 0
        self._bound()

    def _bound(self) -> None:
        """Overflow policy drop_oldest: keep the newest ``max_pending`` samples, count the rest."""
        excess = len(self._pending) - self.cfg.max_pending
        if excess > 0:
            del self._pending[:excess]
            self._counters["overflow_drops"] += excess

    def _flush(self, sink: SampleSink) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            sink.put(batch)
            self._counters["samples_out"] += len(batch)

    # --------------------------------------------------------------------------------------------------- read

    async def read(self, sink: SampleSink) -> None:
        """Stream samples into ``sink`` until the connection fails (TransientError) or the task is cancelled."""
        link = self._link
        if link is None:
            raise NotConnectedError(f"{self.name}: read() before connect()")
        tasks = [asyncio.create_task(self._poll(link, g, items), name=f"{self.name}-poll-{g.name}")
                 for g, items in link.polls]
        tasks.append(asyncio.create_task(self._watch_status(link), name=f"{self.name}-status"))
        started = time.monotonic()
        for w in link.subscriptions:  # the watchdog counts from now: connect may have taken a while
            w.last_publish = started
        flush_s = self.cfg.flush_interval.total_seconds()
        try:
            while True:
                await asyncio.sleep(flush_s)
                self._flush(sink)
                self._check(link)
                for task in tasks:
                    if task.done():
                        task.result()  # re-raises the task's TransientError
        except TransientError as err:
            self._fail(str(err))
            raise
        finally:
            await _stop(tasks)
            self._flush(sink)

    def _check(self, link: Link) -> None:
        prefix = f"{self.name}: {self.cfg.endpoint}"
        if link.lost is not None:
            raise TransientError(f"{prefix}: connection lost ({link.lost})")
        if link.client.state is not UaClientState.CONNECTED:
            raise TransientError(f"{prefix}: connection lost (client {link.client.state.value})")
        now = time.monotonic()
        for w in link.subscriptions:
            if w.status is not None:
                raise TransientError(f"{prefix}: the server ended subscription {w.group.name} "
                                     f"({ua.StatusCode(w.status).name})")
            silent = now - w.last_publish
            if silent > w.deadline_s:
                raise TransientError(f"{prefix}: no publish response or keep-alive for subscription {w.group.name} "
                                     f"in {silent:.1f} s (expected every {w.keepalive_s:.1f} s); server frozen "
                                     "or subscription lost")

    async def _watch_status(self, link: Link) -> None:
        interval = self.cfg.watchdog.status_interval.total_seconds()
        timeout = self.cfg.timeouts.request.total_seconds()
        ids = [ua.NodeId(ua.ObjectIds.Server_ServerStatus_StartTime), ua.NodeId(ua.ObjectIds.Server_ServerStatus_State)]
        while True:
            await asyncio.sleep(interval)
            values: list[ua.DataValue] = []
            try:
                async for _, chunk in read_chunks(link.client, ids, link.limits, timeout):
                    values.extend(chunk)
            except Exception as err:
                error = ses.translate(err, f"{self.name}: reading ServerStatus")
                if error is None:
                    raise
                raise error from err
            start, state = (dv.Value.Value if dv.Value is not None else None for dv in values)
            if link.start_time is not None and start is not None and start != link.start_time:
                raise TransientError(f"{self.name}: the server restarted at {start} (it had started at "
                                     f"{link.start_time}); its subscriptions are gone")
            if state is not None and int(state) in _DEAD_STATES:
                raise TransientError(f"{self.name}: the server reports state {_DEAD_STATES[int(state)]}")

    async def _poll(self, link: Link, group: PollingGroup, items: list[tuple[int, ua.NodeId]]) -> None:
        interval = group.interval.total_seconds()
        max_age = group.max_age.total_seconds() * 1000
        last: dict[int, tuple[int, int, Any]] = {}
        next_at = time.monotonic()
        while True:
            try:
                await self._read_group(link, items, max_age, last)
            except Exception as err:
                error = ses.translate(err, f"{self.name}: polling group {group.name}")
                if error is None or error is err:
                    raise
                raise error from err
            self._counters["polls"] += 1
            next_at += interval
            now = time.monotonic()
            if next_at < now:  # the read took longer than the interval: skip the missed cycles, count them
                missed = int((now - next_at) // interval) + 1
                self._counters["poll_overruns"] += missed
                next_at += missed * interval
            await asyncio.sleep(next_at - now)

    async def _read_group(self, link: Link, items: list[tuple[int, ua.NodeId]], max_age: float,
                          last: dict[int, tuple[int, int, Any]]) -> None:
        timeout = self.cfg.timeouts.request.total_seconds()
        async for offset, values in read_chunks(link.client, [n for _, n in items], link.limits, timeout, max_age):
            self._counters["read_requests"] += 1
            now = _now_us()
            pending, converters = self._pending, self._converters
            for (handle, _), dv in zip(items[offset:offset + len(values)], values, strict=True):
                sample = converters[handle].sample(dv, now)
                signature = (sample.source_ts_us, sample.status, sample.value)
                # An unchanged value keeps its SourceTimestamp; sending it again would only be deduplicated later.
                if last.get(handle) == signature:
                    self._counters["poll_unchanged"] += 1
                    continue
                last[handle] = signature
                pending.append(sample)
            self._bound()

    # -------------------------------------------------------------------------------------------------- close

    async def close(self) -> None:
        """Delete the session (and with it the subscriptions) and drop the socket; safe to call at any time."""
        link, self._link = self._link, None
        if link is None:
            return
        link.closed = True
        for watched in link.subscriptions:
            watched.active = False
        await ses.quiet_disconnect(link.client, self.cfg.timeouts.request.total_seconds() + 1.0)
