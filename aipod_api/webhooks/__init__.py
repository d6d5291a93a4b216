"""Webhooks: Standard Webhooks deliveries of the events outbox (see service.py, worker.py)."""
