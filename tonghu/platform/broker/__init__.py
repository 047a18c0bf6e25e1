"""The platform broker, secure by default: Mosquitto 2 behind TLS, one identity per edge, an ACL per identity.

The registry database is the source of truth for broker identities (``broker_accounts``, hashes only); the files
Mosquitto reads (password file, ACL, CRL, ``mosquitto.conf``) are rendered from it into the broker directory and
the running broker is told to reload them. See docs/SECURITY.md.
"""
