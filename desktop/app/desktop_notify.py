"""Desktop notifications over D-Bus: `org.freedesktop.Notifications.Notify` (Desktop
Notifications Specification 1.2), the same service GNOME, KDE, XFCE and dunst provide.

Why jeepney and not QtDBus: Notify's signature is `susssasa{sv}i`. PySide6 marshals a Python
int as `i` (and through QDBusArgument as `q`), never as the `u` of `replaces_id`, and an empty
list as `av`; GDBus-based servers (GNOME Shell) answer such a call with InvalidArgs. jeepney
(already here: the Secret Service store uses it) writes the exact signature. The call blocks,
so it runs on a worker (desktop/concurrency/tasks.py), never on the UI thread.
"""

from __future__ import annotations

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
SIGNATURE = "susssasa{sv}i"
APP_NAME = "Connected Accounts"
APP_ICON = "connected-accounts"
CALL_TIMEOUT_S = 5.0


class NotificationUnavailable(Exception):
    """No notification service answered; the caller falls back to the tray or the window."""


def send_notification(summary: str, body: str, *, timeout: float = CALL_TIMEOUT_S) -> int:
    """Show one notification; returns the server's id. Blocking: call it on a worker."""
    # Here, on the worker: xml.sax.saxutils imports urllib.request, http.client, email and ssl
    # (libcrypto, ~4 MiB), which the window's first paint does not need (bench/cold_start.py).
    from xml.sax.saxutils import escape

    from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    address = DBusAddress(PATH, bus_name=SERVICE, interface=SERVICE)
    # The body may be read as markup (the "body-markup" capability): escape it (spec §Markup).
    args: tuple[object, ...] = (APP_NAME, 0, APP_ICON, summary, escape(body), [], {}, -1)
    try:
        with open_dbus_connection(bus="SESSION") as conn:
            reply = conn.send_and_get_reply(
                new_method_call(address, "Notify", SIGNATURE, args), timeout=timeout
            )
    except Exception as exc:  # no bus address, bus gone, timeout: all mean "not here"
        raise NotificationUnavailable(
            f"No session bus to notify on ({type(exc).__name__})."
        ) from None
    if reply.header.message_type == MessageType.error:
        name = reply.header.fields.get(HeaderFields.error_name, "an error")
        raise NotificationUnavailable(f"The notification service answered {name}.")
    return int(reply.body[0])
