"""Ad platforms behind one interface (base.Provider), built from config by registry.py.

oauth2.py (any OAuth 2.0 / OIDC provider; presets demo and google_ads), meta.py (Meta),
report adapters demo.py, meta_insights.py, google_ads.py; http.py retries every call.
"""
