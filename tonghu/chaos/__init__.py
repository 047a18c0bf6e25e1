"""Chain-wide fault injection and the end-to-end benchmark.

Devices → edge agent → broker → ingester → TimescaleDB, each piece a real process that can be killed:

- ``load``: simulated MQTT JSON devices whose every value is its tag's sequence number, at unique source times;
- ``opcua_counter``: an asyncua server whose variables carry the same kind of counter;
- ``check``: reads TimescaleDB and reports per tag generated / stored / duplicated / missing, beside the drops
  the agent counted;
- ``chain``: starts and kills the pieces (private Mosquitto, private PostgreSQL cluster, ingesters, agents);
- ``bench_e2e``: ``tonghu bench e2e``.
"""
