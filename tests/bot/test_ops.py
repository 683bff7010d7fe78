"""Operations: /healthz, /metrics, redacted structured logs, explicit webhook commands."""

from __future__ import annotations

import io
import json
import logging

from bot._cli import chat_loop, delete_webhook, set_webhook
from bot._logging import JsonFormatter, RedactingFilter, redact
from tests.bot.gateway_fakes import TG_SECRET, FakeRasa, FakeTelegram, wait_until


async def test_healthz_reports_database_worker_and_rasa(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["worker"] == "running"
    assert body["rasa"] == "ok"
    fake_rasa.status = 503
    body = await (await client.get("/healthz")).json()
    assert body["rasa"] == "unavailable"
    assert body["status"] == "ok"  # Rasa down: messages queue, the gateway is still healthy


async def test_metrics_prometheus_format(gateway, fake_telegram: FakeTelegram) -> None:
    client = await gateway()
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": 3, "type": "private"},
            "text": "hi",
        },
    }
    await client.post(
        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    )
    await wait_until(lambda: len(fake_telegram.sent()) == 1)
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert "# TYPE gateway_inbound_total counter" in text
    assert 'gateway_inbound_total{channel="telegram"} 1' in text
    assert 'gateway_outbound_total{channel="telegram",status="sent"} 1' in text
    assert "gateway_answer_latency_seconds_count 1" in text
    assert "gateway_inbound_pending 0" in text


def test_redaction_of_phones_and_names() -> None:
    assert redact("call me on 012 345 678 or +855 12 345 678") == (
        "call me on [redacted] or [redacted]"
    )
    assert redact({"user": {"first_name": "Sokha", "id": 5}, "text": "ok"}) == {
        "user": {"first_name": "[redacted]", "id": 5},
        "text": "ok",
    }
    assert redact("update 123 at 10:30") == "update 123 at 10:30"
    assert redact('"GET /messenger/webhook?hub.mode=subscribe&hub.verify_token=s3cret HTTP"') == (
        '"GET /messenger/webhook?hub.mode=subscribe&hub.verify_token=[redacted] HTTP"'
    )


def test_json_log_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "bot.test", logging.INFO, __file__, 1, "citizen 092 555 1234 wrote", None, None
    )
    record.username = "sokha_pp"
    record.channel = "telegram"
    RedactingFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "citizen [redacted] wrote"
    assert line["username"] == "[redacted]"
    assert line["channel"] == "telegram"
    assert line["level"] == "INFO"


async def test_set_webhook_sends_secret_and_allowed_updates(make_settings, fake_telegram):
    settings = make_settings(public_url="https://gw.example.org")
    url = await set_webhook(settings)
    assert url == "https://gw.example.org/telegram/webhook"
    call = fake_telegram.sent("setWebhook")[0].params
    assert call["url"] == url
    assert call["secret_token"] == TG_SECRET
    assert call["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
    ]
    await delete_webhook(settings)
    assert fake_telegram.sent("deleteWebhook")


async def test_terminal_chat_through_the_web_chat_api(gateway, fake_rasa: FakeRasa) -> None:
    client = await gateway()
    out = io.StringIO()
    await chat_loop(str(client.make_url("")), ["/menu", "2", "/quit", "never sent"], out)
    assert [c.params["message"] for c in fake_rasa.calls] == ["/menu", "/ask_equity_card"]
    assert "bot> Menu\n  [1] English\n  [2] ប័ណ្ណសមធម៌" in out.getvalue()
    assert "bot> echo: /ask_equity_card" in out.getvalue()


async def test_terminal_chat_shows_every_reply_to_a_message(gateway, fake_rasa) -> None:
    fake_rasa.responder = lambda body: [{"text": "first"}, {"text": "second"}, {"text": "third"}]
    client = await gateway()
    out = io.StringIO()
    await chat_loop(str(client.make_url("")), ["hello", "/quit"], out)
    assert out.getvalue() == "bot> first\nbot> second\nbot> third\n"
