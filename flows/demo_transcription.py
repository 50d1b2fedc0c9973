"""Demo step: upload a Zoom-style WebVTT call transcript to the transcription intake endpoint.

The transcript file is parsed offline (no speech-to-text provider needed), then analysed and
stored like ``/api/ai/conversation/analyze``; an unsupported file shows the 415.
"""

from __future__ import annotations

from typing import Any

import httpx

PATH = "/api/ai/conversation/transcribe"

#: A discovery call as Zoom's cloud recording exports it (``Speaker: text`` cues).
SAMPLE_VTT = """WEBVTT

1
00:00:02.100 --> 00:00:07.400
Dana Reyes: Hi Sam, thanks for making time today. How is the quarter going?

2
00:00:07.900 --> 00:00:15.200
Sam Patel: Busy. Our reps spend too long updating Salesforce after every call.

3
00:00:15.600 --> 00:00:24.000
Dana Reyes: That is what we hear a lot. What would a fix be worth to your team?

4
00:00:24.500 --> 00:00:33.800
Sam Patel: If it saves an hour a day per rep it pays for itself. What does it cost per seat?

5
00:00:34.200 --> 00:00:42.900
Dana Reyes: Forty dollars per seat per month, and the trial is free for three reps.

6
00:00:43.300 --> 00:00:50.100
Sam Patel: Could you send me the pricing sheet for the enterprise plan by Thursday?

7
00:00:50.500 --> 00:00:56.000
Dana Reyes: Absolutely, I will send it by Thursday and book a follow-up call.
"""


def summarize_transcription(body: dict[str, Any]) -> str:
    """Return the demo table's one-line summary of a transcription answer."""
    analysis = body.get("analysis") or {}
    speakers = sorted({u["speaker"] for u in body["utterances"]})
    return (
        f"{body['source']}: {len(body['utterances'])} cues, {len(speakers)} speakers, "
        f"{len(analysis.get('action_items') or [])} action items, "
        f"{len(analysis.get('alerts') or [])} alerts"
    )


def run_transcription_demo(report: Any, client: httpx.Client) -> None:
    """Upload the sample call transcript (then a PDF, refused with 415).

    Args:
        report: The demo's report (``report.call`` records status, latency and a summary).
        client: HTTP client of the served gateway (with the API key).
    """
    report.call(
        client,
        "POST",
        PATH,
        summarize_transcription,
        files={"file": ("discovery-call.vtt", SAMPLE_VTT.encode(), "text/vtt")},
        data={
            "meeting_type": "discovery",
            "participants": '[{"name": "Dana Reyes", "role": "rep"}, '
            '{"name": "Sam Patel", "role": "customer"}]',
        },
    )
    report.call(
        client,
        "POST",
        PATH,
        files={"file": ("slides.pdf", b"%PDF-1.7\n%demo\n", "application/pdf")},
    )
