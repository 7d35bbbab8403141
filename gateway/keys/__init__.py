"""API keys: the gateway keys users call /v1 with, and the provider keys they bring."""
