"""Adapters: the only modules that name aiokafka or httpx."""
