"""SQL of the platform domain, one module per service of include/platform/ and named after
it: `health` (health.py), `backup` (backup.py). notifications.py and metadata.py have none
of their own: the outbox's SQL is include/common/outbox.py, the metadata purge is
`airflow db clean`."""
