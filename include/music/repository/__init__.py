"""The SQL of the music domain: one module per service (`chart_sync` serves chart_sync.py, ...)."""
