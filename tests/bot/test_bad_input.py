"""Hostile or broken input: 403 for bad credentials, clear 4xx otherwise, never a 5xx."""

from __future__ import annotations

import pytest

from tests.bot.gateway_fakes import TG_SECRET, FakeRasa

HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.mark.parametrize("headers", [{}, {HEADER: "wrong"}, {HEADER: TG_SECRET + "x"}])
async def test_telegram_without_the_secret_is_403(gateway, fake_rasa: FakeRasa, headers) -> None:
    client = await gateway()
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": 5, "type": "private"},
            "text": "hi",
        },
    }
    resp = await client.post("/telegram/webhook", json=update, headers=headers)
    assert resp.status == 403
    assert fake_rasa.calls == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[]", 400),
        (b'{"update_id": "1"}', 400),
        (b'{"update_id": 1, "message": {"chat": "nope"}}', 400),
        # well-formed, but of types we never subscribe to (or that do not exist yet)
        (
            b'{"update_id": 2, "poll_answer": {"poll_id": "p", "option_ids": [0], '
            b'"option_persistent_ids": ["a"], '
            b'"user": {"id": 5, "is_bot": false, "first_name": "A"}}}',
            422,
        ),
        (b'{"update_id": 4, "future_kind": {"x": 1}}', 422),
        (b'{"update_id": 3}', 422),
    ],
)
async def test_telegram_malformed_and_unknown_updates_get_4xx(gateway, body, status) -> None:
    client = await gateway()
    resp = await client.post(
        "/telegram/webhook",
        data=body,
        headers={HEADER: TG_SECRET, "Content-Type": "application/json"},
    )
    assert resp.status == status
    assert "error" in await resp.json()


async def test_oversized_bodies_get_413(gateway) -> None:
    client = await gateway(max_body_bytes=1024)
    big = b'{"update_id": 1, "pad": "' + b"x" * 4096 + b'"}'
    resp = await client.post(
        "/telegram/webhook",
        data=big,
        headers={HEADER: TG_SECRET, "Content-Type": "application/json"},
    )
    assert resp.status == 413
    resp = await client.post(
        "/webchat/messages", data=big, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413


async def test_messenger_malformed_json_after_valid_signature_is_400(gateway) -> None:
    import hashlib
    import hmac

    from tests.bot.gateway_fakes import FB_SECRET

    client = await gateway()
    for raw in (b"{oops", b'{"object": "user"}', b'{"object": "page", "entry": 3}'):
        sig = "sha256=" + hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        resp = await client.post(
            "/messenger/webhook", data=raw, headers={"X-Hub-Signature-256": sig}
        )
        assert resp.status == 400


async def test_gateway_still_healthy_after_bad_input(gateway) -> None:
    client = await gateway()
    await client.post("/telegram/webhook", data=b"{x", headers={HEADER: TG_SECRET})
    health = await client.get("/healthz")
    assert health.status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_rejected_total{reason="bad_request"} 1' in metrics
