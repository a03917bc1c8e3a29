"""Why a grant ended, in a plain sentence naming the cause and the remedy.

Only our own sentences are ever shown: a provider's free text (`error_description`, Graph's
`message`) is matched against known phrases and codes, never echoed, since it could repeat
what we sent.
"""

from __future__ import annotations

# Meta access-token error subcodes (developers.facebook.com/docs/graph-api/guides/
# error-handling#errorcodes and /docs/facebook-login/guides/access-tokens/debugging).
META_SUBCODES: dict[int, str] = {
    458: "You removed this app from your Facebook account's apps and websites; reconnect to "
    "allow access again.",
    459: "Facebook put your account on a security checkpoint; log in to facebook.com to "
    "clear it, then reconnect.",
    460: "You changed your Facebook password; reconnect to allow access again.",
    463: "Your Meta sign-in expired (long-lived tokens last about 60 days); reconnect to keep "
    "reports flowing.",
    464: "Your Facebook account is not confirmed yet; confirm it on facebook.com, then reconnect.",
    467: "Meta no longer accepts this sign-in (you may have logged out of Facebook or it was "
    "reset); reconnect to keep reports flowing.",
    492: "Meta ended the session this grant belonged to (for example, your role on the "
    "Business or Page changed); log in to Facebook and reconnect.",
}

# invalid_grant error_description phrases, lower-cased (a substring match), mapped to our words.
# Google: developers.google.com/identity/protocols/oauth2#expiration and the token endpoint's
# answers; Microsoft: the AADSTS codes of learn.microsoft.com/entra/identity-platform/
# reference-error-codes; LinkedIn: its token endpoint's wording.
DESCRIPTIONS: tuple[tuple[str, str], ...] = (
    (
        "token has been expired or revoked",
        "{name} says this sign-in was revoked or has expired: you (or an admin) removed the "
        "app's access, it went unused for six months, or the app is in testing mode, where "
        "grants last 7 days; reconnect to allow access again.",
    ),
    (
        "account has been deleted",
        "{name} says the account behind this connection was deleted; connect another account.",
    ),
    (
        "aadsts700082",
        "{name} ended this sign-in because it went unused for 90 days; reconnect to keep "
        "reports flowing.",
    ),
    (
        "aadsts70008",
        "{name} says this sign-in has expired; reconnect to keep reports flowing.",
    ),
    (
        "aadsts50173",
        "{name} ended this sign-in because your password changed or your sessions were "
        "revoked; reconnect to allow access again.",
    ),
    (
        "aadsts65001",
        "{name} says consent to this app was withdrawn; reconnect and allow access again.",
    ),
    (
        "aadsts50076",
        "{name} now requires multi-factor sign-in for this account; reconnect and complete it.",
    ),
    (
        "refresh token is invalid, expired or revoked",
        "{name} says this sign-in was revoked or its refresh token expired (LinkedIn grants "
        "last 365 days); reconnect to allow access again.",
    ),
    (
        "revoked by the user",
        "You removed this app's access on {name}; reconnect to allow access again.",
    ),
)


def meta_reason(subcode: object) -> str | None:
    """The sentence for a Meta token error subcode, or None for one we do not know."""
    try:
        return META_SUBCODES.get(int(str(subcode)))
    except ValueError:
        return None


def grant_reason(provider: str, description: object) -> str | None:
    """The sentence for an invalid_grant `error_description`, or None when not a known one."""
    if not isinstance(description, str) or not description:
        return None
    text = description.lower()
    for phrase, words in DESCRIPTIONS:
        if phrase in text:
            return words.format(name=provider)
    return None
