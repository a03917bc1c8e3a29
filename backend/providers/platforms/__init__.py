"""A platform's own OAuth client where the generic one (../oauth/oauth2.py) will not do.

Only Meta needs one (no refresh grant: long-lived tokens, debug_token). Google Ads, LinkedIn
Ads, Microsoft Advertising and Demo Ads are the generic client with their preset's defaults
(../presets.py) and their report adapter (../reports/).
"""
