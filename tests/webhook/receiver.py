"""A webhook receiver for the integration tests: a real HTTP server that checks each
delivery's X-HelpYap-Signature exactly as README tells integrators to, and writes down what
came.

Usage: python3 receiver.py PORT DIR
  PORT        the port to listen on (0: any free one)
  DIR/secret  the signing secret, read again for every request (a rotation rewrites it)
  DIR/fail    how many more requests to answer 500 (read and counted down per request)
  DIR/port    written once listening
  DIR/log     one JSON line per request: delivery, event, type, verified, answered
"""
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, DIR = int(sys.argv[1]), sys.argv[2]
TOLERANCE = 300  # seconds, as README recommends


def read(name, default=""):
    try:
        with open(os.path.join(DIR, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def verify(secret, header, body):
    """README's algorithm: v1 = HMAC-SHA256(secret, "{t}.{raw body}"), t within 5 minutes."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > TOLERANCE:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        verified = verify(read("secret"), self.headers.get("X-HelpYap-Signature", ""), body)
        fail = int(read("fail", "0") or 0)
        if fail > 0:
            with open(os.path.join(DIR, "fail"), "w") as f:
                f.write(str(fail - 1))
            status = 500
        else:
            status = 204 if verified else 401
        event = json.loads(body or b"{}")
        line = {
            "delivery": self.headers.get("X-HelpYap-Delivery"),
            "eventHeader": self.headers.get("X-HelpYap-Event"),
            "type": event.get("type"),
            "id": event.get("id"),
            "project": event.get("project"),
            "data": event.get("data"),
            "verified": verified,
            "answered": status,
        }
        with open(os.path.join(DIR, "log"), "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
server.serve_forever()
