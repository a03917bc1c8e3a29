"""Demo Ads: a working OAuth 2.0 authorization server and ads reporting API, shipped with the app.

`create_sandbox_app(config)` (app.py) serves, relative to its base URL (its issuer):

- `GET /authorize` consent page, `POST /authorize` the decision (authorize.py)
- `POST /token` authorization_code + refresh_token grants, `POST /revoke` RFC 7009 (token.py)
- `GET /.well-known/oauth-authorization-server` RFC 8414 metadata, `GET /jwks` the id_token
  signing keys (app.py, id_token.py)
- `GET /api/me`, `/api/accounts`, `/api/accounts/{id}/insights` (api.py; data.py, report_rows.py)
- `/admin/…` fault knobs, provider-side revocation, counters, when `admin_api` is on (admin.py)

State lives in store.py (optionally a JSON state file); settings in config.py.
"""
