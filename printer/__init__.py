"""hallq printer."""
