"""Small fakes of the services' collaborators (the database, the Kafka producer, clocks),
shared by the unit tests. Each satisfies the protocol the services name in
services/common/ports.py, so tests pass them as they are, with no type checker silenced."""
