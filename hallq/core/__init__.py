"""The pure queue core: (state, command, now) -> (new state, events).

No MQTT, clock, GPIO, SQL or threads in here. ``rules.QueueRules.handle`` decides what a command
does and returns events; ``evolve`` applies an event to a state. Replaying stored events through
``evolve`` rebuilds the state exactly, which is how the controller recovers after a crash.
"""
