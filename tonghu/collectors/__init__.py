"""Collectors that read equipment: OPC-UA, MQTT JSON devices and Sparkplug B."""
