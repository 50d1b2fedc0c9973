"""Transcript files (WebVTT, SRT, JSON exports) parsed into timed, speaker-labelled utterances."""

from __future__ import annotations

import json

import pytest

from textai.conversation.transcript_files import (
    Utterance,
    decode_text,
    parse_srt,
    parse_transcript_file,
    parse_transcript_json,
    parse_vtt,
    split_speaker_label,
)

ZOOM_VTT = """WEBVTT

1
00:00:01.500 --> 00:00:04.000
Dana Reyes: Hi Sam, thanks for joining.

2
00:00:04.200 --> 00:00:09.000
Sam Patel: Happy to. We use Salesforce today &amp; pricing matters.

3
00:00:09.100 --> 00:00:12.000
and the renewal is in March.
"""

TEAMS_VTT = """WEBVTT
Kind: captions
Language: en

NOTE recorded by Teams

STYLE
::cue { color: white }

8f1c-12-0
00:01.000 --> 00:03.250 align:start position:10%
<v Dana Reyes>Could you send the <i>pricing</i> sheet?</v>

8f1c-13-0
01:00:03.500 --> 01:00:05.000
<v.loud Sam Patel>Sure, by Friday.</v><v Dana Reyes>Thanks!</v>
"""

SRT = """1
00:00:01,000 --> 00:00:03,500
Dana: Hi Sam, can you hear me?

2
00:00:03,600 --> 00:00:06,000
[Sam] Yes, <i>loud</i> and clear.

3
00:00:06,100 --> 00:00:08,000
Let's look at the proposal.
"""


def test_zoom_vtt_speakers_times_and_entities() -> None:
    utterances = parse_vtt(ZOOM_VTT)
    assert utterances[0] == Utterance("Dana Reyes", 1.5, 4.0, "Hi Sam, thanks for joining.")
    assert utterances[1].speaker == "Sam Patel"
    assert utterances[1].text == "Happy to. We use Salesforce today & pricing matters."
    # an unlabelled cue continues the previous speaker (a sentence split over cues)
    assert utterances[2] == Utterance("Sam Patel", 9.1, 12.0, "and the renewal is in March.")


def test_vtt_voice_tags_header_metadata_notes_and_hours() -> None:
    utterances = parse_vtt(TEAMS_VTT)
    assert [(u.speaker, u.start, u.end, u.text) for u in utterances] == [
        ("Dana Reyes", 1.0, 3.25, "Could you send the pricing sheet?"),
        ("Sam Patel", 3603.5, 3605.0, "Sure, by Friday."),
        ("Dana Reyes", 3603.5, 3605.0, "Thanks!"),
    ]


def test_vtt_without_speakers_is_unknown() -> None:
    utterances = parse_vtt("WEBVTT\n\n00:00.000 --> 00:02.000\nThe meeting at 10:30 is moved.\n")
    assert utterances == [Utterance("Unknown", 0.0, 2.0, "The meeting at 10:30 is moved.")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n00:00:01,000 --> 00:00:02,000\nhi\n", "first line must be 'WEBVTT'"),
        ("WEBVTT\n\n00:01.000 -> 00:02.000\nhi\n", "expected a cue timing line"),
        ("WEBVTT\n\n00:01 --> 00:02\nhi\n", "malformed cue timing"),
        ("WEBVTT\n\n00:05.000 --> 00:02.000\nhi\n", r"line 3: the cue ends \(2 s\) before"),
        ("WEBVTT\n\nNOTE only a note\n", "no cue with text"),
        ("WEBVTT\n00:01.000 --> 00:02.000\nhi\n", "followed by a blank line"),
    ],
)
def test_malformed_vtt_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_vtt(text)


def test_srt_labels_tags_and_continuation() -> None:
    assert parse_srt(SRT) == [
        Utterance("Dana", 1.0, 3.5, "Hi Sam, can you hear me?"),
        Utterance("Sam", 3.6, 6.0, "Yes, loud and clear."),
        Utterance("Sam", 6.1, 8.0, "Let's look at the proposal."),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n00:00:01 --> 00:00:02\nhi\n", r"SRT cue 1 \(line 2\): malformed timing"),
        ("1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n", "cue 2 .*a number without a timing"),
        ("1\n00:00:09,000 --> 00:00:02,000\nhi\n", "before it starts"),
        ("\n\n", "no cue with text"),
    ],
)
def test_malformed_srt_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_srt(text)


def test_gong_export_in_milliseconds_with_named_speakers() -> None:
    export = {
        "callTranscripts": [
            {
                "callId": "7782342274025937895",
                "transcript": [
                    {
                        "speakerId": "6432345678555530067",
                        "topic": "Pricing",
                        "sentences": [
                            {"start": 460230, "end": 462343, "text": "What does it cost?"},
                            {"start": 462500, "end": 464000, "text": "Per seat, I mean."},
                        ],
                    },
                    {
                        "speakerId": "2",
                        "topic": None,
                        "sentences": [{"start": 465000, "end": 470120, "text": "It is $40."}],
                    },
                ],
            }
        ],
        "speakers": [{"speakerId": "6432345678555530067", "name": "Sam Patel"}],
    }
    utterances = parse_transcript_json(json.dumps(export))
    assert utterances == [
        Utterance("Sam Patel", 460.23, 462.343, "What does it cost?"),
        Utterance("Sam Patel", 462.5, 464.0, "Per seat, I mean."),
        Utterance("Speaker 2", 465.0, 470.12, "It is $40."),
    ]


def test_plain_list_and_transcription_segments() -> None:
    items = [
        {"speaker": "Dana", "start": "00:01", "end": 3.5, "text": "Hello."},
        {"speaker": "Sam", "start": 4, "end": 6, "text": "  Hi  there. "},
    ]
    assert parse_transcript_json(json.dumps(items)) == [
        Utterance("Dana", 1.0, 3.5, "Hello."),
        Utterance("Sam", 4.0, 6.0, "Hi there."),
    ]
    verbose = {"text": "x", "segments": [{"id": 0, "start": 0.0, "end": 2.0, "text": " Hi."}]}
    assert parse_transcript_json(json.dumps(verbose)) == [Utterance("Speaker 1", 0.0, 2.0, "Hi.")]
    diarized = {"segments": [{"start": 0, "end": 1, "text": "Yes.", "speaker": "B"}]}
    assert parse_transcript_json(json.dumps(diarized))[0].speaker == "Speaker B"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"transcript": [', "not valid JSON: .* line 1 column"),
        ('{"calls": []}', r"unknown JSON transcript shape \(keys \['calls'\]\)"),
        ('"just text"', r"unknown JSON transcript shape \(str\)"),
        ('[{"speaker": "A"}]', r"item\[0\] needs a 'speaker' and a 'text'"),
        ('[{"speaker": "A", "text": "hi", "start": "soon"}]', r"item\[0\]\.start: not a time"),
        ('[{"speaker": "A", "text": "hi", "start": -3}]', "negative time"),
        ('{"transcript": [{"speakerId": "1"}]}', r"transcript\[0\] needs 'speakerId'"),
        ('{"transcript": [{"speakerId": 1, "sentences": [{"start": 1}]}]}', "needs a 'text'"),
        ('{"callTranscripts": [{}, {}]}', "holds 2 calls"),
        ("[]", "no utterance with text"),
    ],
)
def test_malformed_json_is_a_clear_error(payload: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_transcript_json(payload)


def test_decoding_boms_and_non_text() -> None:
    assert decode_text("\ufeffWEBVTT\r\n".encode()) == "WEBVTT\n"
    assert decode_text("WEBVTT\n".encode("utf-16")) == "WEBVTT\n"
    with pytest.raises(ValueError, match="not UTF-8 text"):
        decode_text(b"WEBVTT \xff\xfe\xfa")
    with pytest.raises(ValueError, match="unknown transcript format"):
        parse_transcript_file(b"x", "docx")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dana: hi", ("Dana", "hi")),
        (">> Sam Patel: sure", ("Sam Patel", "sure")),
        ("[Host] welcome", ("Host", "welcome")),
        ("At 10:30 we meet", (None, "At 10:30 we meet")),
        ("see https://example.com: docs", (None, "see https://example.com: docs")),
        ("This is a much longer clause than any name: really", None),
    ],
)
def test_speaker_labels(text: str, expected: tuple | None) -> None:
    speaker, rest = split_speaker_label(text)
    if expected is None:
        assert speaker is None and rest == text
    else:
        assert (speaker, rest) == expected
