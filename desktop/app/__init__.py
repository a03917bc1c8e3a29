"""The window application: bootstrap, controller, backend link, single instance, notifications."""
