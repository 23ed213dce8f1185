"""Rooms: satellites forward their board's commands to a hub through an MQTT broker.

`Satellite` publishes what its board hears; `Hub` runs the skills once per command heard, from
the room that heard it best, and sends spoken replies back to that room. docs/mqtt.md describes
the topics and payloads.
"""
