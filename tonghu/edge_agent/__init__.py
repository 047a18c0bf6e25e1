"""Edge agent: collectors feed a durable buffer that an uplink drains to the platform."""
