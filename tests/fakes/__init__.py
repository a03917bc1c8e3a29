"""Fake provider servers (Meta Graph, Google OAuth + Ads, a generic OAuth 2.0/OIDC IdP).

Each is a real FastAPI app the tests serve with `tests.support.servers.serve`; each keeps its
state in a plain object the test can inspect, and can be told to fail the next requests.
"""
