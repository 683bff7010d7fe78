"""The action server answers from the live revision (actions/live.py): a catalogue on
loopback (a stand-in for the gateway's /api/knowledge/v1/catalogue, same ETag rules) is
polled; a new grade-10 amount with its new source is in the next answer, with "last verified
on" its new date; unchanged, unreachable or broken catalogues change nothing."""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import kbprofile
from actions.actions import ActionAnswerTopic
from actions.compose import get_resources, use_knowledge
from actions.knowledge import load_knowledge
from actions.live import Poller, start_from_env

REPO = Path(__file__).resolve().parents[2]
GRADE_10 = "cost_options.upper_secondary.amount"


class Catalogue:
    """A loopback catalogue: serves `text` with a strong ETag, 304 when it matches."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[int] = []  # status of every answer
        catalogue = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = catalogue.text.encode()
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                if self.headers.get("If-None-Match") == etag:
                    catalogue.requests.append(304)
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                catalogue.requests.append(200)
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/knowledge/v1/catalogue"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def seed_document() -> dict[str, Any]:
    return kbprofile.seed_to_document(REPO / "knowledge")


def with_new_grade_10(document: dict[str, Any], amount: int) -> dict[str, Any]:
    document = copy.deepcopy(document)
    service = next(s for s in document["services"] if s["id"] == "scholarship")
    service["sources"].append(
        {
            "id": "moeys-2026",
            "url": "https://moeys.gov.kh/km/scholarship-2026",
            "title": "សេចក្តីជូនដំណឹងអំពីអាហារូបករណ៍ឆ្នាំ២០២៦",
            "issuer": "ក្រសួងអប់រំ យុវជន និងកីឡា",
            "date": "2026-12-01",
            "assured_date": "2026-12-05",
            "assurer": "សុផល",
        }
    )
    fact = dict(kbprofile.get_fact(service, GRADE_10) or {})
    fact.update(value=amount, source="moeys-2026", assured_date="2026-12-05", assurer="សុផល")
    kbprofile.set_fact(service, GRADE_10, fact)
    return kbprofile.normalise(document)


@pytest.fixture
def catalogue() -> Iterator[Catalogue]:
    served = Catalogue(kbprofile.dumps(seed_document()))
    yield served
    served.close()
    use_knowledge(load_knowledge())  # the other tests answer from the seed


async def answers(load_tracker: Any, run_action: Any, domain: Any) -> dict[str, str]:
    found = {}
    for name in ("ask_topic_en", "ask_topic_km"):
        _, [message] = await run_action(ActionAnswerTopic(), load_tracker(name), domain)
        found[name] = message["text"]
    return found


async def test_a_published_amount_is_in_the_next_answer_with_its_date(
    catalogue: Catalogue, load_tracker: Any, run_action: Any, domain: Any
) -> None:
    before = await answers(load_tracker, run_action, domain)
    poller = Poller(catalogue.url, use_knowledge, interval=0.2)
    assert poller.poll_once()  # the catalogue equals the seed: the same answers
    assert get_resources().knowledge == load_knowledge()
    assert await answers(load_tracker, run_action, domain) == before
    assert not poller.poll_once()
    assert catalogue.requests == [200, 304]  # polling an unchanged catalogue is a 304

    catalogue.text = kbprofile.dumps(with_new_grade_10(seed_document(), 35000))
    assert poller.poll_once()
    after = await answers(load_tracker, run_action, domain)
    assert "Upper secondary (grades 10-12): 35,000 riel a month" in after["ask_topic_en"]
    assert "Last verified on 5 Dec 2026." in after["ask_topic_en"]
    assert "៣៥.០០០ រៀល" in after["ask_topic_km"]
    assert "៥ ធ្នូ ២០២៦" in after["ask_topic_km"]

    catalogue.text = kbprofile.dumps(seed_document())  # rolled back
    assert poller.poll_once()
    assert await answers(load_tracker, run_action, domain) == before


def test_the_background_poller_swaps_within_its_interval(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SP4ALL_KNOWLEDGE_URL", catalogue.url)
    monkeypatch.setenv("SP4ALL_KNOWLEDGE_POLL_S", "0.2")
    poller = start_from_env(use_knowledge)
    assert poller is not None
    try:
        catalogue.text = kbprofile.dumps(with_new_grade_10(seed_document(), 36000))
        for _ in range(50):
            topic = get_resources().knowledge.topics["scholarship"]
            if topic.amount("upper_secondary").value == 36000:
                break
            threading.Event().wait(0.1)
        assert (
            get_resources().knowledge.topics["scholarship"].amount("upper_secondary").value
            == 36000
        )
    finally:
        poller.stop()


def test_unset_unreachable_or_broken_keeps_what_it_has(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SP4ALL_KNOWLEDGE_URL", raising=False)
    assert start_from_env(use_knowledge) is None
    seed = get_resources()
    assert not Poller("http://127.0.0.1:9/nothing", use_knowledge).poll_once()
    assert get_resources() is seed
    broken = seed_document()
    del broken["services"][0]["sources"]
    catalogue.text = kbprofile.dumps(broken)
    assert not Poller(catalogue.url, use_knowledge).poll_once()
    assert get_resources() is seed
    catalogue.text = "not json"
    assert not Poller(catalogue.url, use_knowledge).poll_once()
    assert get_resources() is seed
