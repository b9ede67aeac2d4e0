"""A real SMTP server for the integration tests (aiosmtpd): every message it accepts is
written down as one JSON line.

Usage: python smtpd.py PORT DIR
  DIR/port  written once listening
  DIR/mail  one JSON line per message: from, to, subject, body (the plain-text part)
"""
import email
import json
import os
import sys
import time
from email import policy

from aiosmtpd.controller import Controller

PORT, DIR = int(sys.argv[1]), sys.argv[2]


class Keep:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        line = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "body": body.get_content() if body else "",
        }
        with open(os.path.join(DIR, "mail"), "a") as f:
            f.write(json.dumps(line) + "\n")
        return "250 OK"


controller = Controller(Keep(), hostname="127.0.0.1", port=PORT)
controller.start()
with open(os.path.join(DIR, "port"), "w") as f:
    f.write(str(PORT))
while True:
    time.sleep(3600)
