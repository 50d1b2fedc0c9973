"""PII redaction: names, companies, emails and phones replaced, restored, and AI consent."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haste.db import Company, Contact, session_scope, upgrade_database
from haste.settings import Settings
from textai.llm.redaction import (
    ConsentError,
    ContactNotFoundError,
    PIIRedactor,
    ensure_ai_consent,
    is_phone_number,
    phone_key,
    restore,
)

PERSONS = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Linus", "Torvalds")]
COMPANIES = ["Acme Corp", "Initech"]
FILLER = [
    "the",
    "meeting",
    "went",
    "well",
    "please",
    "send",
    "proposal",
    "friday",
    "team",
    "budget",
    "call",
    "about",
    "pricing",
    "next",
    "steps",
    "thanks",
]
NAME_FRAGMENTS = [
    *(f"{first} {last}" for first, last in PERSONS),
    *(first for first, _ in PERSONS),
    *(last for _, last in PERSONS),
    *COMPANIES,
]
SEPARATORS = [", ", "; ", " and ", ". ", " / "]


@pytest.fixture()
def redactor() -> PIIRedactor:
    return PIIRedactor(
        [*PERSONS[:2], ("Will", "Turner")],
        companies=["Acme Corp"],
        emails=["ada@acme.io"],
        phones=["+1 (555) 010-2233"],
        names=["Linus Torvalds"],
    )


def test_everything_is_redacted_and_restored(redactor: PIIRedactor) -> None:
    text = (
        "Hi Ada, ADA LOVELACE asked Grace Hopper to email ada@acme.io or g.hopper@Navy.mil, "
        "call +1 (555) 010-2233 or +44 20 7946 0958. Acme Corp and Acme's board, Linus too."
    )
    red = redactor.redact(text)
    assert red.text == (
        "Hi [PERSON_1_FIRST], [PERSON_1] asked [PERSON_2] to email [EMAIL_1] or [EMAIL_2], "
        "call [PHONE_1] or [PHONE_2]. [COMPANY_1] and [COMPANY_1]'s board, [PERSON_3_FIRST] too."
    )
    assert red.count == 10
    assert red.mapping["[PERSON_1]"] == "Ada Lovelace"
    assert red.mapping["[PERSON_1_FIRST]"] == "Ada"
    assert red.mapping["[EMAIL_2]"] == "g.hopper@Navy.mil"
    assert red.mapping["[COMPANY_1]"] == "Acme Corp"
    restored = restore(red.text, red.mapping)
    assert restored == text.replace("ADA LOVELACE", "Ada Lovelace").replace("Acme's", "Acme Corp's")


def test_same_value_same_placeholder_across_texts(redactor: PIIRedactor) -> None:
    system = redactor.redact("Write to Grace Hopper (grace@navy.mil).")
    user = redactor.redact("Grace HOPPER, GRACE@NAVY.MIL, and Ada.", previous=system)
    assert system.text == "Write to [PERSON_1] ([EMAIL_1])."
    assert user.text == "[PERSON_1], [EMAIL_1], and [PERSON_2_FIRST]."
    assert user.mapping == {
        "[PERSON_1]": "Grace Hopper",
        "[EMAIL_1]": "grace@navy.mil",
        "[PERSON_2_FIRST]": "Ada",
    }
    assert user.count == 5


def test_word_boundaries_and_common_word_names(redactor: PIIRedactor) -> None:
    assert redactor.redact("Adam and Adas met Hoppers").text == "Adam and Adas met Hoppers"
    assert redactor.redact("I will ask Will.").text == "I will ask [PERSON_1_FIRST]."
    assert redactor.redact("Ada's idea").text == "[PERSON_1_FIRST]'s idea"


@pytest.mark.parametrize(
    "value",
    [
        "+1 (555) 010-2233",
        "555-010-2233",
        "+44 20 7946 0958",
        "020 7946 0958",
        "+33 1 23 45 67 89",
        "0044 20 7946 0958",
        "555.010.2233",
        "555-0100",
        "+1-202-555-0143",
    ],
)
def test_phone_formats(value: str) -> None:
    red = PIIRedactor().redact(f"call {value} today")
    assert red.text == "call [PHONE_1] today"
    assert red.mapping == {"[PHONE_1]": value}


@pytest.mark.parametrize(
    "text", ["on 2024-01-15 10:30", "15/01/2024", "IP 192.168.1.10", "pi 3.14159265", "order 1234"]
)
def test_non_phones_are_left_alone(text: str) -> None:
    assert PIIRedactor().redact(text).text == text


def test_phone_identity() -> None:
    assert phone_key("+44 20 7946 0958") == phone_key("020 7946 0958")
    assert phone_key("+1 (555) 010-2233") == phone_key("555.010.2233")
    assert is_phone_number("555-0100") and not is_phone_number("12345")
    red = PIIRedactor().redact("+1 (555) 010-2233 / 555.010.2233")
    assert red.text == "[PHONE_1] / [PHONE_1]"


@pytest.mark.parametrize(
    "echo",
    ["[PERSON_1]", "[ person_1 ]", "[Person-1]", "[PERSON 1]", "PERSON_1", "[person_01]"],
)
def test_restore_tolerates_echo_variants(echo: str) -> None:
    assert restore(f"Dear {echo},", {"[PERSON_1]": "Ada Lovelace"}) == "Dear Ada Lovelace,"


def test_restore_parts_fallbacks_and_unknowns() -> None:
    mapping = {"[PERSON_1_FIRST]": "Ada", "[PERSON_1_LAST]": "Lovelace", "[PERSON_2]": "Grace"}
    assert restore("[person 1 first] / [PERSON-1-LAST]", mapping) == "Ada / Lovelace"
    assert restore("[PERSON_1]", mapping) == "Ada Lovelace"
    assert restore("[PERSON_2_FIRST]", mapping) == "Grace"
    assert restore("[PERSON_9] and [EMAIL_1] and PERSON_10x", mapping) == (
        "[PERSON_9] and [EMAIL_1] and PERSON_10x"
    )


def test_detection_can_be_switched_off() -> None:
    red = PIIRedactor(detect_emails=False, detect_phones=False).redact("a@b.io 555-010-2233")
    assert red.text == "a@b.io 555-010-2233" and red.count == 0


emails = st.builds(
    "{}@{}.{}".format,
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10),
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10),
    st.sampled_from(["com", "io", "co.uk", "org"]),
)
phones = st.builds(
    lambda fmt, d: fmt.format(*d),
    st.sampled_from(
        [
            "+1 ({}{}{}) {}{}{}-{}{}{}{}",
            "+44 {}{} {}{}{}{} {}{}{}{}",
            "{}{}{}-{}{}{}-{}{}{}{}",
            "{}{}{}.{}{}{}.{}{}{}{}",
            "+33 {} {}{} {}{} {}{} {}{}{}",
        ]
    ),
    st.lists(st.sampled_from("0123456789"), min_size=10, max_size=10),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_property(data: st.DataObject) -> None:
    mail = data.draw(st.lists(emails, min_size=1, max_size=3, unique_by=str.casefold))
    tel = data.draw(st.lists(phones, min_size=1, max_size=3, unique_by=phone_key))
    fragment = st.one_of(
        st.sampled_from(FILLER),
        st.sampled_from(NAME_FRAGMENTS),
        st.sampled_from(mail),
        st.sampled_from(tel),
    )
    parts = data.draw(st.lists(fragment, min_size=1, max_size=25))
    seps = data.draw(
        st.lists(st.sampled_from(SEPARATORS), min_size=len(parts), max_size=len(parts))
    )
    text = "".join(p + s for p, s in zip(parts, seps, strict=True))
    redactor = PIIRedactor(PERSONS, companies=COMPANIES)
    red = redactor.redact(text)
    assert restore(red.text, red.mapping) == text
    lowered = red.text.casefold()
    for value in [*mail, *tel]:
        assert value.casefold() not in lowered
    for name in NAME_FRAGMENTS:
        assert not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", red.text, re.IGNORECASE)
    assert red.count == sum(1 for p in parts if p not in FILLER)


def test_from_contacts_and_consent(isolated_settings: Settings) -> None:
    url = isolated_settings.database_url
    upgrade_database(url)
    with session_scope(url) as session:
        company = Company(name="Globex Corporation")
        session.add(company)
        session.flush()
        yes = Contact(
            first_name="Hank",
            last_name="Scorpio",
            email="hank@globex.com",
            phone="+1 555 010 9999",
            company_id=company.id,
            ai_consent=True,
        )
        no = Contact(first_name="Homer", last_name="Simpson", ai_consent=False)
        session.add_all([yes, no])
        session.flush()
        yes_id, no_id = yes.id, no.id
    redactor = PIIRedactor.from_contacts(url, [str(yes_id)], names=["Marge"])
    red = redactor.redact(
        "Hank Scorpio of Globex (Globex Corporation) wrote from HANK@globex.com, "
        "phone 555-010-9999; cc Marge."
    )
    assert red.text == (
        "[PERSON_1] of [COMPANY_1] ([COMPANY_1]) wrote from [EMAIL_1], phone [PHONE_1]; "
        "cc [PERSON_2]."
    )
    assert ensure_ai_consent(url, [str(yes_id)]) == [yes_id]
    with pytest.raises(ConsentError, match=f"contact {no_id} has not consented to AI processing"):
        ensure_ai_consent(url, [yes_id, no_id])
    unknown = uuid.uuid4()
    with pytest.raises(ContactNotFoundError, match=str(unknown)):
        ensure_ai_consent(url, [yes_id, unknown])
    with pytest.raises(ContactNotFoundError, match="not-a-uuid"):
        ensure_ai_consent(url, ["not-a-uuid"])
    with pytest.raises(ContactNotFoundError, match=str(unknown)):
        PIIRedactor.from_contacts(url, [unknown])
