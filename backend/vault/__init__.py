"""The token vault: sealed secrets, vault keys, rotation, and single-flight token refresh.

- `crypto`: KeyRing.seal / open (AES-256-GCM, key ids, AAD per row and purpose), `aad()`.
- `keys`: load_keyring (env or a 0600 key file), rotate_key (`rotate-key` command).
- `rotation`: the compare-and-set re-encryption rotate_key runs.
- `refresh`: the row-locked, single-flight refresh of a connection's access token.
- `tokens`: what the rest of the backend calls — store_tokens, get_access_token, call_with_token.
"""
