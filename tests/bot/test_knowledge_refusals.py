"""The knowledge console's refusals in the console's language (Khmer or English), like the
rest of its pages: another ministry's programme, a publish without a source or a verified
date, a reviewer's own draft. Each refusal still changes nothing."""

from __future__ import annotations

import html

import pytest

from bot._exceptions import Invalid, NotAllowed
from tests.bot.console_helpers import ConsoleUser
from tests.bot.test_knowledge import GRADE_10, GRADE_10_LABEL, fresh_actor, make_team

LANG_COOKIE = "sp4all_console_lang"


def test_a_refusal_has_words_in_both_languages() -> None:
    refused = NotAllowed("only the secretariat's reviewers publish", km="មានតែអ្នកពិនិត្យ")
    assert refused.words("km") == "មានតែអ្នកពិនិត្យ"
    assert refused.words("en") == "only the secretariat's reviewers publish"
    assert Invalid("nothing changed").words("km") == "nothing changed"  # no Khmer: English


async def post(user: ConsoleUser, path: str, language: str) -> tuple[int, str]:
    user.http.cookie_jar.update_cookies({LANG_COOKIE: language})
    resp = await user.http.post(
        user.url(path), data={"csrf_token": user.csrf}, allow_redirects=False
    )
    return resp.status, html.unescape(await resp.text())


async def test_refusals_in_khmer_and_english_over_http(gateway) -> None:
    client = await gateway()
    team = await make_team(client)
    service = team.service
    sophal, chenda = await fresh_actor(team, "sophal"), await fresh_actor(team, "chenda")
    # a draft without a source and without its Khmer label: saved, not publishable
    change_id = await service.start(sophal, "scholarship")
    version = await service.save(
        sophal,
        change_id,
        1,
        {GRADE_10: {"value": "40000", "unit": "riel", "period": "per_month"}},
        None,
    )
    await service.save(
        sophal, change_id, version, {GRADE_10_LABEL: {"km": "", "en": "Upper secondary"}}, None
    )
    await service.submit(sophal, change_id)
    assert chenda.reviewer

    vanna, reviewer = ConsoleUser(client), ConsoleUser(client)
    try:
        await vanna.login("vanna")
        status, page = await post(vanna, "/console/knowledge/programmes/scholarship/draft", "km")
        assert status == 403
        assert "scholarship ជារបស់ mosvy" in page
        assert "អ្នកកែសម្រួលកែបានតែកម្មវិធីរបស់ក្រសួងខ្លួនប៉ុណ្ណោះ" in page
        assert "own ministry" not in page
        status, page = await post(vanna, "/console/knowledge/programmes/scholarship/draft", "en")
        assert status == 403
        assert "an editor changes only their own ministry's programmes" in page

        await reviewer.login("chenda")
        publish = f"/console/knowledge/changes/{change_id}/publish"
        status, page = await post(reviewer, publish, "km")
        assert status == 400
        assert "មិនទាន់រួចរាល់សម្រាប់ផ្សព្វផ្សាយទេ" in page
        assert f"{GRADE_10}៖ គ្មានប្រភព" in page
        assert "គ្មានកាលបរិច្ឆេទផ្ទៀងផ្ទាត់" in page
        assert f"{GRADE_10_LABEL}៖ ខ្វះអត្ថបទខ្មែរ" in page
        assert "no source" not in page
        status, page = await post(reviewer, publish, "en")
        assert status == 400
        assert f"{GRADE_10}: no source (url, title, issuer, date)" in page
        assert len(await service.revisions()) == 1  # nothing published
    finally:
        await vanna.close()
        await reviewer.close()


async def test_the_service_refusals_all_have_khmer_words(gateway) -> None:
    client = await gateway()
    team = await make_team(client)
    vanna = await fresh_actor(team, "vanna")
    with pytest.raises(NotAllowed) as refused:
        await team.service.start(vanna, "scholarship")
    assert refused.value.km is not None
    assert "ក្រសួង" in refused.value.words("km")
