"""What the emulator answers, one module per resource, as in the client.

- ``events``: ``v2/event/``, ``v2/bulk/event/``, and ``event/`` (events and
  identity events, one or an array).
- ``workflows``: ``trigger/`` (one or bulk) and the legacy ``{workspace}/trigger/``.
- ``broadcasts``: ``{workspace}/broadcast/``.
- ``users``: ``v1/user/...`` and ``v1/bulk/user/...``; the users themselves
  are kept in ``_user_store``.

Each module exposes its routes; the core (``testing/_hub``) assembles them,
authenticates, injects faults and deduplicates before calling a handler.
"""
