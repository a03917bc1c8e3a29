"""Connecting an account: the loopback receiver, its pages, the browser and the flow."""
