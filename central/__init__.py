"""``hallq central``: head office. Every bridged hall's events in one store, exactly once."""
