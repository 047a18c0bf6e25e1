"""The ingest service: uplink batches from MQTT into TimescaleDB, acknowledged only after COMMIT."""
