"""Delivery of notices to the agencies: the notifier reads the notifications topic and
delivers each notice once to the recipient's endpoints (webhooks, e-mail)."""
