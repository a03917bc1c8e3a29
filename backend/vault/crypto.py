"""PLACEHOLDER (owner: vault engineer)."""


class KeyRing:
    pass
