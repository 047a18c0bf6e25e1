"""OPC-UA collector: subscriptions and polled reads from one OPC UA server, mapped to ISA-95 tags.

``config`` and ``groups`` hold the pydantic model (no I/O and no asyncua import, so an agent can validate a
configuration without the protocol library), ``nodes`` the node id / browse path syntax, ``convert`` the
DataValue → Sample conversion, ``certs`` the application certificate and the trust store, ``session`` endpoint
selection and security checks, ``resolve`` what connect reads and creates, ``collector`` the lifecycle,
``browse`` the address-space walk that drafts a configuration, ``cli`` the commands, ``measure`` the benchmark.
"""

from tonghu.collectors.opcua.config import OpcUaConfig, load_config, parse_config

__all__ = ["OpcUaConfig", "load_config", "parse_config"]
