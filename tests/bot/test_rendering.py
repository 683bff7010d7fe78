"""What citizens read: a person's words carry the person's name and organisation on every
channel, and the national pool is named in words for citizens."""

from __future__ import annotations

from typing import Any, cast

from bot.channels import MessengerChannel, TelegramChannel
from bot.channels._texts import gateway_text, org_for_citizens

AGENT = {"name": "Sokha", "organisation": "Cambodian Women & Children"}


def test_telegram_keeps_a_persons_name_with_their_words() -> None:
    """Stored: the words (what the console shows) and who wrote them; the name is put
    above the words, in bold, when sent (tests/bot/test_console_flow.py sees it arrive)."""
    telegram = TelegramChannel(cast(Any, None))  # rendering never calls the Bot API
    [body] = telegram.render([{"text": "សួស្តី <b>", "agent": AGENT}])
    assert body == {"html": "សួស្តី &lt;b&gt;", "author": "Sokha · Cambodian Women & Children"}
    [plain] = telegram.render([{"text": "សួស្តី"}])  # the assistant: no author
    assert plain == {"html": "សួស្តី"}


async def test_messenger_keeps_a_persons_name_with_their_words() -> None:
    messenger = MessengerChannel(page_token="t", graph_url="http://127.0.0.1:1", timeout_s=1)
    try:
        [body] = messenger.render([{"text": "Hello", "agent": {"name": "Dara"}}])
        assert body == {"text": "Hello", "author": "Dara"}
        [plain] = messenger.render([{"text": "Hello"}])
        assert plain == {"text": "Hello"}
    finally:
        await messenger.aclose()


def test_the_national_pool_is_named_for_citizens_in_their_language() -> None:
    assert org_for_citizens("SP4ALL national pool", True, "km") == "ក្រុមការងារ SP4ALL ថ្នាក់ជាតិ"
    assert org_for_citizens("SP4ALL national pool", True, "en") == "the SP4ALL national team"
    assert org_for_citizens("Batheay CSO", False, "en") == "Batheay CSO"
    closed = gateway_text(
        "handoff_out_of_hours", "en", org=org_for_citizens("x", True, "en"), when="at 8:00"
    )
    assert closed.startswith("The SP4ALL national team is closed")


async def test_the_name_goes_out_above_the_words_on_messenger(fake_graph: Any) -> None:
    messenger = MessengerChannel(page_token="t", graph_url=fake_graph.base_url, timeout_s=5)
    try:
        await messenger.send("psid-1", {"text": "Hello", "author": "Dara · CSO"})
    finally:
        await messenger.aclose()
    [sent] = fake_graph.messages()
    assert sent["message"] == {"text": "Dara · CSO:\nHello"}  # no "author" field for Graph
