"""A webhook receiver as a gateway would write one, for the tests.

Every delivery is checked with the Standard Webhooks reference library
(`standardwebhooks` from PyPI) against the secrets in SECRETS_FILE (one per
line, re-read on each request, so a test can rotate). A share of the
deliveries (FAIL_RATE) is answered 500 before being looked at; MODE
`redirect` answers every one with a 302. Each request is logged as one
JSON line to LOG_FILE: the webhook id, the event, whether it verified and
the status answered.

    python3 receiver.py PORT SECRETS_FILE LOG_FILE [FAIL_RATE] [MODE]
"""

import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT = int(sys.argv[1])
SECRETS_FILE = sys.argv[2]
LOG_FILE = sys.argv[3]
FAIL_RATE = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
MODE = sys.argv[5] if len(sys.argv) > 5 else "normal"
LOCK = threading.Lock()


def verified(body, headers):
    with open(SECRETS_FILE) as f:
        secrets = [line.strip() for line in f if line.strip()]
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
            return True
        except WebhookVerificationError:
            continue
    return False


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if MODE == "redirect":
            status = 302
        elif random.random() < FAIL_RATE:
            status = 500
        else:
            status = 204
        ok = verified(body, headers) if status == 204 else None
        if ok is False:
            status = 400
        event = json.loads(body)["data"] if status == 204 else {}
        line = {
            "webhook_id": headers.get("webhook-id"),
            "signatures": len(headers.get("webhook-signature", "").split()),
            "traceparent": headers.get("traceparent"),
            "verified": ok,
            "status": status,
            "event_id": event.get("event_id"),
            "event_type": event.get("event_type"),
            "job_id": event.get("job_id"),
            "sequence": event.get("sequence"),
            "received_at": time.time(),
        }
        with LOCK, open(LOG_FILE, "a") as log:
            log.write(json.dumps(line) + "\n")
        self.send_response(status)
        if status == 302:
            self.send_header("location", f"http://127.0.0.1:{PORT}/elsewhere")
        self.send_header("content-length", "0")
        self.end_headers()


    def do_GET(self):
        # (a followed redirect would arrive here)
        with LOCK, open(LOG_FILE, "a") as log:
            log.write(json.dumps({"status": "GET " + self.path, "received_at": time.time()}) + "\n")
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
