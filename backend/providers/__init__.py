"""Ad platforms behind one interface (base.Provider), built from config by registry.py.

Filed by role:
- oauth/: protocol code, one module per rule (rfc6749_token, rfc7009_revocation,
  rfc8414_discovery, oidc_id_token) and the generic OAuth 2.0 / OIDC client built on them
  (oauth2.py), which serves every preset but Meta;
- platforms/: a platform's own OAuth client where the generic one will not do (meta.py);
- reports/: report adapters (adapter.py is their interface), one per ads API.
Here: base (interface, types, errors), http (retries, the shared HTTP context), config,
presets, catalogue, registry, lapse, reasons, schemas.
"""
