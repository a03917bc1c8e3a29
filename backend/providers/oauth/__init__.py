"""OAuth 2.0 / OpenID Connect protocol code, each module named after the rule it implements,
and the generic client built on them (oauth2.py)."""
