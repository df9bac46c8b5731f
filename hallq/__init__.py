"""hallq: the hall's queue domain, its controller service and the shared contract pieces."""
