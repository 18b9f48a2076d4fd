"""The outbox's own table: records a worker could not deliver, with the reason.

pgqueuer's tables hold what is waiting or in flight; a record the hub refused
(or that failed on every delivery) leaves them and is kept here until someone
retries or purges it (``suprsend-async outbox status|retry|purge``).
"""

from __future__ import annotations

__all__ = ["CREATE_FAILED_TABLE", "FAILED_TABLE", "INSTALL_LOCK", "UPGRADE_FAILED_TABLE"]

FAILED_TABLE = "suprsend_outbox_failed"

CREATE_FAILED_TABLE = f"""
CREATE TABLE IF NOT EXISTS {FAILED_TABLE} (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,          -- 'event' or 'workflow'
    payload         json NOT NULL,          -- the record as enqueued, key included
    idempotency_key text NOT NULL,
    error           text NOT NULL,          -- why it was not delivered
    code            integer,                -- the hub's status for it; NULL: no answer
    maybe_delivered boolean NOT NULL,       -- the hub may have processed it all the same
    deliveries      integer NOT NULL,       -- how many times a worker tried it
    failed_at       timestamptz NOT NULL DEFAULT now()
)
"""

# The payload was jsonb before: jsonb cannot hold \u0000 (nor a lone surrogate's
# escape), which a record may carry and json keeps, as the text it was enqueued as.
# A table made so is changed once, by the next install() (there is no other schema
# version to go by: the column's type is it).
UPGRADE_FAILED_TABLE = f"""
DO $$
BEGIN
    IF (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
        WHERE attrelid = '{FAILED_TABLE}'::regclass AND attname = 'payload') = 'jsonb' THEN
        ALTER TABLE {FAILED_TABLE} ALTER COLUMN payload TYPE json USING payload::text::json;
    END IF;
END
$$
"""  # noqa: S608 (FAILED_TABLE is ours)

# Two processes installing at once (every replica of a service on start-up)
# take turns: pgqueuer's install is not safe to run twice concurrently.
INSTALL_LOCK = 0x5355_5052_534E_4431  # "SUPRSND1"
