"""A small fake of Stripe's API on loopback, for the real SDK to talk to, and webhook signing.

It serves only what PEAL calls — create, retrieve and cancel PaymentIntents, create Refunds —
with Stripe-shaped JSON, form-encoded bodies as the SDK sends them, and Stripe's idempotency:
a repeated `Idempotency-Key` gets the first answer back without doing anything again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

WEBHOOK_SECRET = "whsec_test_peal_secret"
API_KEY = "sk_test_peal_fake"


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": "invalid_request_error", "code": code, "message": message}}


@dataclass
class FakeStripe:
    """The server's state: PaymentIntents, Refunds, idempotent answers, and a call log."""

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    refund_status: str = "pending"
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def reset(self) -> None:
        with self.lock:
            self.intents.clear()
            self.refunds.clear()
            self.answers.clear()
            self.calls.clear()
            self.refund_status = "pending"

    # --- what the tests do in Stripe's place (the payer, the dashboard) ----------------------

    def pay(self, intent_id: str) -> dict[str, Any]:
        """The payer completes the payment in her browser."""
        with self.lock:
            intent = self.intents[intent_id]
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            intent["latest_charge"] = f"ch_{intent_id[3:]}"
            return dict(intent)

    def decline(self, intent_id: str) -> dict[str, Any]:
        with self.lock:
            intent = self.intents[intent_id]
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"code": "card_declined"}
            return dict(intent)

    def calls_to(self, method: str, path_prefix: str) -> list[tuple[str, str, str | None]]:
        return [c for c in self.calls if c[0] == method and c[1].startswith(path_prefix)]

    # --- the API -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, form: dict[str, str], key: str | None
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append((method, path, key))
            if method == "POST" and key is not None and key in self.answers:
                return self.answers[key]
            answer = self._route(method, path, form)
            if method == "POST" and key is not None:
                self.answers[key] = answer
            return answer

    def _route(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return self._create_intent(form)
        if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(parts[2])
            if intent is None:
                return _error(404, "resource_missing", "No such payment_intent")
            if method == "GET" and len(parts) == 3:
                return 200, dict(intent)
            if method == "POST" and parts[3:] == ["cancel"]:
                if intent["status"] in ("succeeded", "canceled"):
                    return _error(
                        400,
                        "payment_intent_unexpected_state",
                        f"This PaymentIntent's status is {intent['status']}",
                    )
                intent["status"] = "canceled"
                return 200, dict(intent)
        if method == "POST" and parts == ["v1", "refunds"]:
            return self._create_refund(form)
        return _error(404, "resource_missing", f"Unrecognized request URL ({method} {path})")

    def _create_intent(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent_id = f"pi_{secrets.token_hex(12)}"
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "amount_received": 0,
            "currency": form["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "description": form.get("description"),
            "metadata": metadata,
            "livemode": False,
        }
        self.intents[intent_id] = intent
        return 200, dict(intent)

    def _create_refund(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None:
            return _error(404, "resource_missing", "No such payment_intent")
        if intent["status"] != "succeeded":
            return _error(400, "charge_not_succeeded", "Nothing to refund")
        if intent.get("refunded"):
            return _error(400, "charge_already_refunded", "Charge has already been refunded")
        intent["refunded"] = True
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": int(form.get("amount") or intent["amount"]),
            "payment_intent": intent["id"],
            "charge": intent.get("latest_charge"),
            "status": self.refund_status,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
        }
        self.refunds[refund["id"]] = refund
        return 200, dict(refund)


def _handler(state: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                status, body = 401, {"error": {"type": "invalid_request_error"}}
            else:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                form = dict(parse_qsl(raw or query))
                status, body = state.handle(
                    self.command, path, form, self.headers.get("Idempotency-Key")
                )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def start_fake_stripe() -> tuple[FakeStripe, ThreadingHTTPServer]:
    state = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="fake-stripe", daemon=True).start()
    return state, server


# --- webhooks ----------------------------------------------------------------------------


def event(type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "livemode": False,
        "type": type,
        "data": {"object": obj},
    }


def charge_refunded(intent: dict[str, Any], refund_id: str | None = None) -> dict[str, Any]:
    return {
        "id": f"ch_{intent['id'][3:]}",
        "object": "charge",
        "amount": intent["amount"],
        "amount_refunded": intent["amount"],
        "payment_intent": intent["id"],
        "refunded": True,
        "refunds": {"object": "list", "data": [{"id": refund_id or "re_unknown"}]},
    }


def sign(
    payload: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe would send: `t=<time>,v1=<HMAC-SHA256 of "t.body">`."""
    body = json.dumps(payload)
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}
    return body.encode(), headers
