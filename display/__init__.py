"""hallq display."""
