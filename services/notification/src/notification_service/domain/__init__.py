"""Notification rules without I/O: channels and delivery states (`delivery`), templates and
their categories (`templates`), preferences, locales and formats, webhook rules and signatures,
and which notice an event calls for (`notices`)."""
