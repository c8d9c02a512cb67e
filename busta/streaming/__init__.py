"""The sans-I/O message engine and the io adapters around it."""
