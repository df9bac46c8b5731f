"""The controller service: the hall's queue authority (the pure core applied to requests, its
event store, its documents, devices' reports, admission, storage faults, retention)."""
