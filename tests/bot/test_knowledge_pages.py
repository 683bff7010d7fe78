"""The knowledge console reads in words (issue #12, #14): every fact labelled from the
catalogue's own names, amounts as people write them, programmes by their title, statuses and
comment kinds in words, in Khmer and in English; never a dotted path, a code or a slug in the
text a person reads (a path may stay in an attribute for the form)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import kbprofile
from bot.knowledge._web import note_words
from tests.bot.console_helpers import ConsoleUser
from tests.bot.test_knowledge import GRADE_10, MOEYS, changed_grade_10, fresh_actor, make_team

INTERNAL = ("cost_options.", "application_process.", "per_month", "eligibility_description")


class _Text(HTMLParser):
    """The text a person reads: text nodes and the visible option words, no attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def assert_no_internal_names(text: str, *slugs: str) -> None:
    text = re.sub(r"https?://\S+", "", text)  # a source's web address is the source's own
    for name in INTERNAL:
        assert name not in text, name
    for slug in slugs:  # "School scholarship" is the title, not the slug
        assert not re.search(rf"(?<!School ){re.escape(slug)}", text), slug


def test_amounts_and_labels_in_words() -> None:
    service = {
        "cost_options": [
            {
                "id": "upper_secondary",
                "option": {"km": "វិទ្យាល័យ (ថ្នាក់ទី១០-១២)", "en": "Upper secondary (grades 10-12)"},
            }
        ]
    }
    amount = {"value": 30000, "unit": "riel", "period": "per_month"}
    assert kbprofile.amount_words(amount, "en") == "30,000 riel a month"
    assert kbprofile.amount_words(amount, "km") == "៣០.០០០ រៀល ក្នុងមួយខែ"
    assert kbprofile.amount_words({"value": "unknown", "unit": None}, "km").startswith("មិនដឹង")
    assert kbprofile.date_words("2026-11-25", "km") == "២៥ វិច្ឆិកា ២០២៦"
    assert kbprofile.date_words("~2020-05", "en") == "about May 2020"
    assert kbprofile.date_words("undated", "km") == "គ្មានកាលបរិច្ឆេទ"
    path = "cost_options.upper_secondary.amount"
    assert kbprofile.fact_label(path, "en", service) == "Amount — Upper secondary (grades 10-12)"
    assert kbprofile.fact_label(path, "km", service) == "ចំនួនទឹកប្រាក់ — វិទ្យាល័យ (ថ្នាក់ទី១០-១២)"
    assert kbprofile.fact_label("cost_options.gone.amount", "en") == "Amount"
    assert kbprofile.fact_label("something.odd", "km") == "ព័ត៌មានផ្សេងទៀត"
    assert note_words("rollback to r2", "km") == "ត្រឡប់ទៅកំណែទី ២ វិញ"
    assert note_words("change 7", "en") == "Change #7"
    assert note_words("ថ្លៃថ្មីពីក្រសួង", "en") == "ថ្លៃថ្មីពីក្រសួង"


async def test_every_page_reads_in_words_in_english_and_khmer(gateway, monkeypatch) -> None:
    monkeypatch.setenv("SP4ALL_KNOWLEDGE_MAX_AGE_DAYS", "1")  # every fact on the report
    client = await gateway()
    team = await make_team(client)
    change_id = await changed_grade_10(team)
    sophal = await fresh_actor(team, "sophal")
    await team.service.submit(sophal, change_id, "សូមពិនិត្យ")
    await team.service.comment(sophal, change_id, "ប្រភពថ្មីពីក្រសួង")
    reviewer = ConsoleUser(client)
    try:
        await reviewer.login("chenda")
        status, page = await reviewer.get(f"/console/knowledge/changes/{change_id}")
        assert status == 200, page
        text = visible(page)
        assert "Amount — Upper secondary (grades 10-12)" in text
        assert "30,000 riel a month" in text
        assert "35,000 riel a month" in text
        assert "៣៥.០០០ រៀល ក្នុងមួយខែ" in text  # the diff shows both languages
        assert "School scholarship" in text
        assert "in review" in text
        assert "sent for review" in text
        assert 'data-path="cost_options.upper_secondary.amount"' in page
        assert_no_internal_names(text, "scholarship", "in_review", "submit ·")
        for path in ("", "/history", "/report", f"/changes/{change_id}/preview"):
            status, page = await reviewer.get(f"/console/knowledge{path}")
            assert status == 200, path
            assert_no_internal_names(visible(page), "in_review", "gs-nspc", "mosvy")

        reviewer.http.cookie_jar.update_cookies({"sp4all_console_lang": "km"})
        status, page = await reviewer.get(f"/console/knowledge/changes/{change_id}")
        text = visible(page)
        assert "ចំនួនទឹកប្រាក់ — វិទ្យាល័យ (ថ្នាក់ទី១០-១២)" in text
        assert "៣០.០០០ រៀល ក្នុងមួយខែ" in text
        assert "៣៥.០០០ រៀល ក្នុងមួយខែ" in text
        assert "អាហារូបករណ៍សិស្ស" in text  # the programme's Khmer title
        assert "កំពុងពិនិត្យ" in text  # in review
        assert "បានបញ្ជូនទៅពិនិត្យ" in text  # sent for review
        assert_no_internal_names(text, "scholarship", "in_review", "submit")
        status, page = await reviewer.get("/console/knowledge")
        text = visible(page)
        assert "ក្រសួងសង្គមកិច្ច" in text  # the owner by name
        assert_no_internal_names(text, "scholarship", "in_review", "mosvy")
        status, page = await reviewer.get("/console/knowledge/history")
        text = visible(page)
        assert "កាតាឡុកដំបូង ពីឯកសារដើម" in text  # revision 1's note "seed" in words
        assert_no_internal_names(text, "seed")
        status, page = await reviewer.get("/console/knowledge/report")
        text = visible(page)
        assert "Cash payments aim to keep kids in school" in text  # the source's own title
        assert "ប្រហែល វិច្ឆិកា ២០២៤" in text  # published "~2024-11"
        assert "ឯកសារត្រូវយកមក — ប័ណ្ណសមធម៌ច្បាប់ដើម" in text
        assert "ចំនួនទឹកប្រាក់ — វិទ្យាល័យ (ថ្នាក់ទី១០-១២)" in text
        assert_no_internal_names(text, "scholarship", "gs-nspc", "mosvy")
    finally:
        await reviewer.close()


async def test_the_edit_form_labels_every_fact_in_words(gateway) -> None:
    client = await gateway()
    team = await make_team(client)
    change_id = await changed_grade_10(team)
    editor = ConsoleUser(client)
    try:
        await editor.login("sophal")
        editor.http.cookie_jar.update_cookies({"sp4all_console_lang": "km"})
        status, page = await editor.get(f"/console/knowledge/changes/{change_id}")
        assert status == 200, page
        text = visible(page)
        assert "ឯកសារត្រូវយកមក — ប័ណ្ណសមធម៌ច្បាប់ដើម" in text
        assert "ក្នុងមួយខែ" in text  # the period choice in words
        assert 'name="fact:cost_options.upper_secondary.amount:period"' in page
        assert '<option value="per_month" selected>' in page
        assert_no_internal_names(text, "scholarship", "draft ")
    finally:
        await editor.close()


async def test_an_amount_typed_as_the_khmer_console_writes_it(gateway) -> None:
    client = await gateway()
    team = await make_team(client)
    sophal = await fresh_actor(team, "sophal")
    change_id = await team.service.start(sophal, "scholarship")
    amount = {"value": "៣៥.០០០", "unit": "riel", "period": "per_month"}
    await team.service.save(sophal, change_id, 1, {GRADE_10: amount}, MOEYS)
    saved = json.loads((await team.service.change(change_id)).service)
    assert kbprofile.get_fact(saved, GRADE_10)["value"] == 35000  # type: ignore[index]
    unknown = {"value": "មិនដឹង", "unit": "riel", "period": "per_month"}
    await team.service.save(sophal, change_id, 2, {GRADE_10: unknown}, None)
    saved = json.loads((await team.service.change(change_id)).service)
    assert kbprofile.get_fact(saved, GRADE_10)["value"] == "unknown"  # type: ignore[index]
