"""What ``connect`` learns from the server and builds on it: limits, node ids, subscriptions.

Everything here is redone at every connect, because a restarted server may number its namespaces differently,
may have changed its model, and has forgotten our subscriptions.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asyncua import ua

from tonghu.collectors.opcua import nodes
from tonghu.collectors.opcua.config import (
    NUMERIC,
    Deadband,
    DeadbandType,
    NodeConfig,
    OpcUaConfig,
    PollingGroup,
    SubscriptionGroup,
)
from tonghu.collectors.opcua.convert import BAD_NO_MATCH, BAD_NODE_ID_UNKNOWN
from tonghu.collectors.opcua.session import status_name

log = logging.getLogger(__name__)

_NO_REMAINING_PATH = 0xFFFFFFFF  # BrowsePathTarget.RemainingPathIndex when the whole path matched
_DEADBAND = {DeadbandType.NONE: 0, DeadbandType.ABSOLUTE: 1, DeadbandType.PERCENT: 2}  # OPC 10000-4 §7.22.2


@dataclass(slots=True)
class Limits:
    """Nodes per call, as the server's OperationLimits allow (0 there means no limit), and what else connect read."""

    read: int
    monitored_items: int
    translate: int
    namespaces: list[str]
    start_time: datetime | None


@dataclass(slots=True, eq=False)
class Watched:
    """One subscription and its liveness, updated by the publish callback."""

    group: SubscriptionGroup
    keepalive_s: float = 0.0
    deadline_s: float = 0.0
    last_publish: float = field(default_factory=time.monotonic)
    subscription_id: int = 0
    status: int | None = None  # set by a StatusChangeNotification: the server ended the subscription
    active: bool = True  # cleared by close(): later responses are ignored


@dataclass(slots=True, eq=False)
class Link:
    """One connection and everything created on it; dropped as a whole by ``close``."""

    client: Any
    start_time: datetime | None = None
    limits: Limits = field(default_factory=lambda: Limits(1, 1, 1, [], None))
    subscriptions: list[Watched] = field(default_factory=list)
    polls: list[tuple[PollingGroup, list[tuple[int, ua.NodeId]]]] = field(default_factory=list)
    lost: str | None = None
    closed: bool = False

    async def on_lost(self, exc: Exception) -> None:
        """asyncua's connection_lost_callback; ``read`` notices at its next tick."""
        self.lost = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


@dataclass(slots=True)
class Resolved:
    node_ids: dict[int, ua.NodeId] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)  # handle → StatusCode
    reasons: dict[int, str] = field(default_factory=dict)

    def fail(self, handle: int, status: int, reason: str) -> None:
        self.failures[handle] = status
        self.reasons[handle] = reason

    def describe_failures(self, configured: Sequence[NodeConfig], most: int = 5) -> str:
        shown = [f"{configured[h].key}: {self.reasons[h]}" for h in list(self.failures)[:most]]
        more = len(self.failures) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _value(dv: ua.DataValue) -> Any:
    if dv.StatusCode is not None and not dv.StatusCode.is_good():
        return None
    return dv.Value.Value if dv.Value is not None else None


async def read_chunks(client: Any, node_ids: Sequence[ua.NodeId], limits: Limits | None, timeout: float,
                      max_age_ms: float = 0.0) -> AsyncIterator[tuple[int, list[ua.DataValue]]]:
    """Read the Value of ``node_ids`` in Reads of at most ``limits.read`` nodes, yielding (offset, values).

    A server may enforce a lower limit than its OperationLimits say (or say none); on BadTooManyOperations the
    chunk is halved, and ``limits.read`` remembers that for the rest of the connection.
    """
    size = limits.read if limits is not None else len(node_ids)
    start = 0
    while start < len(node_ids):
        chunk = node_ids[start:start + size]
        params = ua.ReadParameters(MaxAge=max_age_ms, TimestampsToReturn=ua.TimestampsToReturn.Both,
                                   NodesToRead=[ua.ReadValueId(NodeId=n, AttributeId=ua.AttributeIds.Value)
                                                for n in chunk])
        try:
            async with asyncio.timeout(timeout):
                values = await client.uaclient.read(params)
        except ua.UaStatusCodeError as err:
            if status_name(err) != "BadTooManyOperations" or size == 1:
                raise
            size = max(1, len(chunk) // 2)
            if limits is not None:
                limits.read = size
            log.warning("server refused %d nodes in one Read; reading %d at a time", len(chunk), size)
            continue
        yield start, values
        start += len(chunk)


async def read_limits(client: Any, cap: int, timeout: float) -> Limits:
    """NamespaceArray, ServerStatus.StartTime and the OperationLimits (OPC 10000-5 §6.3.11)."""
    ids = [ua.NodeId(i) for i in (
        ua.ObjectIds.Server_NamespaceArray, ua.ObjectIds.Server_ServerStatus_StartTime,
        ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
        ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
        ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIds)]
    values: list[Any] = []
    async for _, chunk in read_chunks(client, ids, None, timeout):
        values.extend(_value(dv) for dv in chunk)

    def limit(v: Any) -> int:
        return min(cap, int(v)) if isinstance(v, int) and v > 0 else cap

    return Limits(limit(values[2]), limit(values[3]), limit(values[4]), list(values[0] or []), values[1])


def _ua_node_id(spec: nodes.NodeIdSpec, index: int) -> ua.NodeId:
    return ua.NodeId(spec.identifier, index)


async def resolve(client: Any, configured: Sequence[NodeConfig], limits: Limits) -> Resolved:
    """Node ids for every configured node: namespace URIs → indexes, browse paths via TranslateBrowsePaths."""
    out = Resolved()
    namespaces = limits.namespaces
    paths: list[tuple[int, ua.BrowsePath]] = []
    for handle, node in enumerate(configured):
        if node.node_id is not None:
            spec = nodes.parse_node_id(node.node_id)
            try:
                out.node_ids[handle] = _ua_node_id(spec, spec.namespace(namespaces))
            except LookupError as err:
                out.fail(handle, BAD_NODE_ID_UNKNOWN, str(err))
            continue
        elements = []
        for step in nodes.parse_browse_path(node.browse_path or ""):
            if step.namespace_uri not in namespaces:
                out.fail(handle, BAD_NODE_ID_UNKNOWN, f"namespace {step.namespace_uri!r} is not on the server")
                break
            # Any hierarchical reference, subtypes included (OPC 10000-4 §7.31).
            elements.append(ua.RelativePathElement(
                ReferenceTypeId=ua.NodeId(ua.ObjectIds.HierarchicalReferences), IsInverse=False, IncludeSubtypes=True,
                TargetName=ua.QualifiedName(step.name, namespaces.index(step.namespace_uri))))
        else:
            paths.append((handle, ua.BrowsePath(StartingNode=ua.NodeId(ua.ObjectIds.RootFolder),
                                                RelativePath=ua.RelativePath(Elements=elements))))
    for start in range(0, len(paths), limits.translate):
        chunk = paths[start:start + limits.translate]
        results = await client.uaclient.translate_browsepaths_to_nodeids([p for _, p in chunk])
        for (handle, _), result in zip(chunk, results, strict=True):
            targets = [t for t in result.Targets or [] if t.RemainingPathIndex == _NO_REMAINING_PATH
                       and not getattr(t.TargetId, "ServerIndex", 0)]
            if not result.StatusCode.is_good() or not targets:
                code = result.StatusCode.value if not result.StatusCode.is_good() else BAD_NO_MATCH
                out.fail(handle, code, f"browse path not found ({ua.StatusCode(code).name})")
                continue
            if len(targets) > 1:
                log.warning("browse path %s matches %d nodes; using the first", configured[handle].browse_path,
                            len(targets))
            target = targets[0].TargetId
            out.node_ids[handle] = ua.NodeId(target.Identifier, target.NamespaceIndex)
    return out


def _filter(deadband: Deadband) -> ua.DataChangeFilter | None:
    if deadband.type is DeadbandType.NONE:
        return None
    # Trigger StatusValue: a change of status alone must still be reported (quality follows the server).
    return ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValue, DeadbandType=_DEADBAND[deadband.type],
                               DeadbandValue=deadband.value)


def _ms(value: Any) -> float:
    return value.total_seconds() * 1000.0


def monitored_item(handle: int, node_id: ua.NodeId, node: NodeConfig,
                   group: SubscriptionGroup) -> ua.MonitoredItemCreateRequest:
    sampling = node.sampling_interval if node.sampling_interval is not None else group.sampling_interval
    deadband = node.deadband if node.deadband is not None else (
        group.deadband if node.data_type in NUMERIC else Deadband())
    params = ua.MonitoringParameters(
        ClientHandle=handle,
        # -1: sample at the subscription's publishing interval (OPC 10000-4 §5.12.1.2).
        SamplingInterval=_ms(sampling) if sampling is not None else -1.0,
        Filter=_filter(deadband),
        QueueSize=node.queue_size or group.queue_size,
        DiscardOldest=True)
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting, RequestedParameters=params)


async def create_subscriptions(client: Any, cfg: OpcUaConfig, configured: Sequence[NodeConfig],
                               group_of: Sequence[Any], resolved: Resolved, limits: Limits,
                               on_publish: Callable[[Watched, ua.PublishResult], None],
                               on_item_failure: Callable[[int, int], None]) -> list[Watched]:
    """One subscription per subscription group, with its resolved nodes as monitored items."""
    out: list[Watched] = []
    session_ms = _ms(cfg.timeouts.session)
    for group in cfg.groups:
        if not isinstance(group, SubscriptionGroup):
            continue
        handles = [h for h in resolved.node_ids if group_of[h] is group]
        if not handles:
            continue
        publishing_ms = _ms(group.publishing_interval)
        keepalive = group.keepalive_count
        # The lifetime count must be at least three keep-alive counts (OPC 10000-4 §5.13.2.2); longer, so that
        # the server keeps the subscription as long as it keeps the session.
        lifetime = min(max(3 * keepalive, math.ceil(session_ms / publishing_ms)), 0xFFFFFFFF)
        params = ua.CreateSubscriptionParameters(RequestedPublishingInterval=publishing_ms,
                                                 RequestedLifetimeCount=lifetime, RequestedMaxKeepAliveCount=keepalive,
                                                 MaxNotificationsPerPublish=0, PublishingEnabled=True, Priority=0)
        watched = Watched(group)
        result = await client.uaclient.create_subscription(params, functools.partial(on_publish, watched))
        watched.subscription_id = result.SubscriptionId
        watched.keepalive_s = result.RevisedPublishingInterval * result.RevisedMaxKeepAliveCount / 1000.0
        # Below a second, scheduling and network jitter alone could trip the watchdog.
        watched.deadline_s = max(watched.keepalive_s * cfg.watchdog.keepalive_factor, 1.0)
        watched.last_publish = time.monotonic()
        out.append(watched)
        requests = [monitored_item(h, resolved.node_ids[h], configured[h], group) for h in handles]
        for start in range(0, len(requests), limits.monitored_items):
            chunk = requests[start:start + limits.monitored_items]
            results = await client.uaclient.create_monitored_items(ua.CreateMonitoredItemsParameters(
                SubscriptionId=result.SubscriptionId, TimestampsToReturn=ua.TimestampsToReturn.Both,
                ItemsToCreate=chunk))
            for request, item in zip(chunk, results, strict=True):
                if not item.StatusCode.is_good():
                    handle = request.RequestedParameters.ClientHandle
                    log.warning("%s: cannot monitor %s (%s): %s", cfg.name, configured[handle].key,
                                configured[handle].node_id or configured[handle].browse_path, item.StatusCode.name)
                    on_item_failure(handle, item.StatusCode.value)
    return out
