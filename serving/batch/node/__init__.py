"""Batch node: worker processes that run a deployment's driver on leased mini-batches."""
