"""Chat with the running assistant in this terminal (after `make run`).

Talks to Rasa's REST channel directly, so it works even without Telegram or Messenger
tokens. Buttons are shown numbered: type the number to press one.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid

RASA_URL = os.environ.get("RASA_URL", "http://127.0.0.1:5005")
if not RASA_URL.startswith(("http://", "https://")):
    raise SystemExit(f"RASA_URL must be an http(s) URL, not {RASA_URL!r}")
TIMEOUT_SECONDS = 30


def send(sender: str, message: str) -> list[dict]:
    """POST one message to the REST channel and return Rasa's replies."""
    body = json.dumps({"sender": sender, "message": message, "input_channel": "terminal"})
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        f"{RASA_URL}/webhooks/rest/webhook",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        return json.load(response)


def show(replies: list[dict]) -> list[dict]:
    """Print the replies; return the buttons of the last reply that has any."""
    buttons: list[dict] = []
    for reply in replies:
        if reply.get("text"):
            print(f"\n🤖 {reply['text']}")
        if reply.get("custom", {}).get("handoff"):
            print("   [handed over to a person: the gateway routes this to a CSO agent]")
        if reply.get("buttons"):
            buttons = reply["buttons"]
            for number, button in enumerate(buttons, 1):
                print(f"   {number}. {button['title']}")
    return buttons


def main() -> int:
    """Read lines, send them, print the answers, until /stop or end of input."""
    sender = f"terminal:{uuid.uuid4().hex[:8]}"
    print("SP4ALL assistant: write in Khmer or English. /stop to quit.")
    buttons: list[dict] = []
    while True:
        try:
            line = input("\n> ").strip()
        except (EOFError, KeyboardInterrupt):
            return 0
        if line == "/stop":
            return 0
        if line.isdigit() and 0 < int(line) <= len(buttons):
            line = buttons[int(line) - 1]["payload"]
        if not line:
            continue
        try:
            buttons = show(send(sender, line))
        except (urllib.error.URLError, TimeoutError) as error:
            print(f"Cannot reach the assistant at {RASA_URL} ({error}). Is `make run` running?")


if __name__ == "__main__":
    sys.exit(main())
