"""``hallq web``: the hall's web service (supervisor console, customers' phone pages, browser screen)."""
