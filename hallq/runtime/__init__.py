"""What every hallq process runs on: the config, the clock, the MQTT link and the owner loop, SQLite
and storage faults, the words people read (gettext catalogs), the core's setup from the config."""
