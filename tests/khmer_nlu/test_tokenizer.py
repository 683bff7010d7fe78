"""The Rasa component gives Rasa word tokens for Khmer, with offsets into the message."""

from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from khmer_nlu import KhmerTokenizer

ZWSP = "\u200b"


def tokenizer(**config: object) -> KhmerTokenizer:
    return KhmerTokenizer({**KhmerTokenizer.get_default_config(), **config})


def tokens_of(text: str, **config: object) -> list[tuple[str, int, int]]:
    message = Message.build(text=text)
    tokenizer(**config).process([message])
    return [(t.text, t.start, t.end) for t in message.get(TOKENS_NAMES[TEXT])]


def test_khmer_message_is_split_into_words_with_offsets() -> None:
    text = "ខ្ញុំបាត់ប័ណ្ណសមធម៌"
    tokens = tokens_of(text)
    assert [t[0] for t in tokens] == ["ខ្ញុំ", "បាត់", "ប័ណ្ណ", "សមធម៌"]
    assert all(text[start:end] == word for word, start, end in tokens)


def test_zero_width_spaces_do_not_change_the_tokens() -> None:
    plain = "ខ្ញុំបាត់ប័ណ្ណសមធម៌"
    spaced = ZWSP.join(["ខ្ញុំ", "បាត់", "ប័ណ្ណ", "សមធម៌"])
    assert [t[0] for t in tokens_of(spaced)] == [t[0] for t in tokens_of(plain)]
    for word, start, end in tokens_of(spaced):
        assert spaced[start:end] == word  # offsets skip the zero-width spaces


def test_token_text_is_normalised_but_offsets_are_original() -> None:
    text = "ថ្នាក់ទី១០"
    word, start, end = tokens_of(text)[-1]
    assert word == "10"
    assert text[start:end] == "១០"


def test_message_of_only_emoji_keeps_one_token() -> None:
    assert tokens_of("👍") == [("👍", 0, 1)]


def test_training_data_intents_are_single_tokens() -> None:
    example = Message.build(text="សួស្តី", intent="greet")
    tokenizer().process_training_data(TrainingData([example]))
    assert [t.text for t in example.get(TOKENS_NAMES[INTENT])] == ["greet"]
    assert [t.text for t in example.get(TOKENS_NAMES[TEXT])] == ["សួស្តី"]


def test_segmenter_none_reproduces_whitespace_behaviour_for_benchmarks() -> None:
    assert [t[0] for t in tokens_of("ខ្ញុំបាត់ប័ណ្ណ", segmenter="none")] == ["ខ្ញុំបាត់ប័ណ្ណ"]
