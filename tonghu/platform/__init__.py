"""Platform: registry, migrations, ingest into TimescaleDB, analytics."""
