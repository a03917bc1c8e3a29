"""The local companion service: one backend + Demo Ads per OS user, shared by every client.

`paths` and `runtime` are stdlib-only (the command line imports them on its fast path);
`serve` runs the service process; `endpoints` holds its local-only routes.
"""
