"""hallq kiosk."""
