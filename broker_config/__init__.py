"""Mosquitto configuration templates for a hall (see README.md here)."""
