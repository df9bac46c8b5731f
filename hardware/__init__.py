"""hallq hardware."""
