"""hallq simulator: the demo hall, scenarios and the maintainers console."""
