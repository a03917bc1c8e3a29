"""A stand-in notification server for tests: owns org.freedesktop.Notifications on the session
bus (the Desktop Notifications Specification 1.2, method Notify) and prints each call it gets
as one JSON line on stdout, with the D-Bus signature the caller sent.

Run: `python -m tests.support.notify_stub` (with DBUS_SESSION_BUS_ADDRESS set). It prints
`READY` once it owns the name. Like a real server it answers only the documented signature
`susssasa{sv}i`; anything else gets org.freedesktop.DBus.Error.InvalidArgs.
"""

from __future__ import annotations

import json
import sys

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
SIGNATURE = "susssasa{sv}i"
INTROSPECTION = """<node><interface name="org.freedesktop.Notifications">
<method name="Notify"><arg type="s" direction="in"/><arg type="u" direction="in"/>
<arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="s" direction="in"/>
<arg type="as" direction="in"/><arg type="a{sv}" direction="in"/><arg type="i" direction="in"/>
<arg type="u" direction="out"/></method>
<method name="GetServerInformation"><arg type="s" direction="out"/><arg type="s" direction="out"/>
<arg type="s" direction="out"/><arg type="s" direction="out"/></method>
</interface></node>"""


def main() -> int:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME, 4))  # 4: do not queue
    if reply.body[0] != 1:  # 1: primary owner
        print(f"NOT-OWNER {reply.body[0]}", flush=True)
        return 1
    print("READY", flush=True)
    next_id = 0
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        signature = msg.header.fields.get(HeaderFields.signature, "")
        if member == "Notify" and signature == SIGNATURE:
            next_id += 1
            app, replaces, icon, summary, body, actions, hints, timeout = msg.body
            record = {
                "app_name": app, "replaces_id": replaces, "app_icon": icon, "summary": summary,
                "body": body, "actions": list(actions), "hints": sorted(hints),
                "expire_timeout": timeout, "signature": signature,
            }  # fmt: skip
            print(json.dumps(record), flush=True)
            conn.send(new_method_return(msg, "u", (next_id,)))
        elif member == "Introspect":
            conn.send(new_method_return(msg, "s", (INTROSPECTION,)))
        elif member == "GetServerInformation":
            conn.send(new_method_return(msg, "ssss", ("stub", "tests", "0", "1.2")))
        elif member == "GetCapabilities":
            conn.send(new_method_return(msg, "as", (["body"],)))
        else:
            print(json.dumps({"refused": member, "signature": signature}), flush=True)
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.InvalidArgs", "s", ("no",)))


if __name__ == "__main__":
    sys.exit(main())
