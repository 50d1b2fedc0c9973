"""Compiled query patterns of a CRM vocabulary: industries with synonyms, countries with aliases.

Only values present in the data (a :class:`~textai.search.query_model.QueryVocabulary`, built
from the indexed documents) are recognised, whatever they are: a stored industry is matched in
its spellings ("Real_Estate" -> "real estate", "Food & Beverage" -> "food and beverage"), a
synonym ("health care", "insurers", "proptech") maps to its canonical industry when the data
has that industry, a misspelt word in a filter context to the closest known phrase
(:func:`fuzzy_industry`, difflib), a country alias ("Germany", "German", "UK") to the country
as stored (ISO code or name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from textai.search.query_model import QueryVocabulary

#: Industry synonyms -> canonical industry (only canonical values present in the data are used).
INDUSTRY_SYNONYMS: dict[str, str] = {
    "saas": "software", "tech": "software", "technology": "software",
    "financial services": "fintech", "finance": "fintech", "banking": "fintech",
    "payments": "fintech",
    "health care": "healthcare", "health": "healthcare", "medical": "healthcare",
    "hospitals": "healthcare", "hospital": "healthcare", "pharma": "healthcare",
    "ecommerce": "retail", "e-commerce": "retail", "retailers": "retail",
    "manufacturers": "manufacturing", "manufacturer": "manufacturing",
    "industrial": "manufacturing",
    "edtech": "education", "schools": "education", "universities": "education",
    "higher ed": "education",
    "shipping": "logistics", "transport": "logistics", "transportation": "logistics",
    "supply chain": "logistics", "freight": "logistics",
    "publishing": "media", "publishers": "media", "entertainment": "media",
    "non-profit": "nonprofit", "non profit": "nonprofit", "not-for-profit": "nonprofit",
    "not for profit": "nonprofit", "charity": "nonprofit", "charities": "nonprofit",
    "ngo": "nonprofit", "ngos": "nonprofit",
    "public sector": "government", "gov": "government", "govt": "government",
    # Industries beyond the synthetic CRM's: used only when the indexed data has them.
    "insurers": "insurance", "insurtech": "insurance", "insurance carriers": "insurance",
    "property": "real estate", "proptech": "real estate", "realty": "real estate",
    "realtors": "real estate", "automotive": "automotive", "auto": "automotive",
    "car makers": "automotive", "carmakers": "automotive", "oil and gas": "energy",
    "utilities": "energy", "renewables": "energy", "telecom": "telecommunications",
    "telecoms": "telecommunications", "telco": "telecommunications",
    "telcos": "telecommunications", "hotels": "hospitality", "restaurants": "hospitality",
    "law firms": "legal", "legal services": "legal", "builders": "construction",
    "farming": "agriculture", "agritech": "agriculture", "biotechnology": "biotech",
    "life sciences": "biotech", "professional services": "consulting",
    "consultancies": "consulting", "security": "cybersecurity", "infosec": "cybersecurity",
    "defense": "aerospace", "defence": "aerospace", "f&b": "food and beverage",
    "food": "food and beverage", "beverages": "food and beverage", "gaming": "games",
    "video games": "games", "crypto": "blockchain", "web3": "blockchain",
    "hr": "human resources", "staffing": "human resources", "recruiting": "human resources",
}  # fmt: skip
#: Least similarity of a misspelt industry word to a known one (difflib ratio).
FUZZY_CUTOFF = 0.84
#: Country names / adjectives (lower case) -> ISO 3166 alpha-2 code.
COUNTRY_ALIASES: dict[str, str] = {
    "united states": "US", "usa": "US", "u.s.": "US", "america": "US", "american": "US",
    "united kingdom": "GB", "uk": "GB", "u.k.": "GB", "britain": "GB", "great britain": "GB",
    "england": "GB", "british": "GB",
    "germany": "DE", "german": "DE", "canada": "CA", "canadian": "CA",
    "france": "FR", "french": "FR", "australia": "AU", "australian": "AU",
    "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "dutch": "NL",
    "india": "IN", "indian": "IN", "spain": "ES", "spanish": "ES", "italy": "IT",
    "italian": "IT", "japan": "JP", "japanese": "JP", "ireland": "IE", "irish": "IE",
    "sweden": "SE", "swedish": "SE", "brazil": "BR", "brazilian": "BR", "mexico": "MX",
    "singapore": "SG", "switzerland": "CH", "swiss": "CH",
}  # fmt: skip
#: ISO codes accepted as written in upper case in the query (others clash with English words).
_UPPER_CODES: dict[str, str] = {"US": "US", "USA": "US", "UK": "GB", "GB": "GB"}
_ISO_NAMES: dict[str, str] = {
    "US": "united states", "GB": "united kingdom", "DE": "germany", "CA": "canada",
    "FR": "france", "AU": "australia", "NL": "netherlands", "IN": "india",
}  # fmt: skip


@dataclass(frozen=True)
class VocabularyPatterns:
    """Lookup tables and regular expressions of one vocabulary.

    Attributes:
        industries: Lower-case industry phrase (value or synonym) -> stored industry.
        weak: Synonym phrases (skipped in long, descriptive queries).
        industry_re: Industry phrase with its optional preposition (``pre``) and sector word
            (``suf``).
        countries: Lower-case country alias -> stored country.
        country_re: Country alias (``c``) with its optional preposition (``pre``).
        upper: Upper-case code (US, UK...) -> stored country (``None`` when absent).
        upper_re: Upper-case code (``c``), matched on the original-case text.
        stages: Lower-case deal stages of the data.
        lifecycle: Lower-case contact lifecycle stages of the data.

    """

    industries: dict[str, str]
    weak: frozenset[str]
    industry_re: re.Pattern[str]
    countries: dict[str, str]
    country_re: re.Pattern[str]
    upper: dict[str, str | None]
    upper_re: re.Pattern[str]
    stages: frozenset[str]
    lifecycle: frozenset[str]


def _value_variants(value: str) -> list[str]:
    """Return the lower-case spellings of a stored value.

    "Food_&_Beverage" -> "food & beverage", "food and beverage", "food beverage".
    """
    base = " ".join(value.lower().replace("_", " ").replace("/", " ").split())
    variants = [base]
    if "&" in base:
        variants += [" ".join(base.replace("&", " and ").split()),
                     " ".join(base.replace("&", " ").split())]  # fmt: skip
    if " and " in base:
        variants += [base.replace(" and ", " & "), base.replace(" and ", " ")]
    return variants


def fuzzy_industry(word: str, patterns: VocabularyPatterns) -> str | None:
    """Return the stored industry a misspelt or inflected word names ("helthcare", "insurances").

    Args:
        word: A lower-case word or two from a filter context ("in X", "X companies").
        patterns: The data's compiled vocabulary.

    Returns:
        The stored industry, or ``None`` when no known phrase is close enough.

    """
    import difflib

    if len(word) < 5:
        return None
    known = [k for k in patterns.industries if len(k) >= 5]
    close = difflib.get_close_matches(word, known, n=1, cutoff=FUZZY_CUTOFF)
    return patterns.industries[close[0]] if close else None


@lru_cache(maxsize=16)
def vocabulary_patterns(vocab: QueryVocabulary) -> VocabularyPatterns:
    """Compile the industry, country and stage patterns of a vocabulary (cached per vocabulary).

    Args:
        vocab: The data's categorical values.

    Returns:
        The compiled patterns.

    """
    lower: dict[str, str] = {}
    for value in vocab.industries:
        for variant in _value_variants(value):
            lower.setdefault(variant, value)
    industries: dict[str, str] = dict(lower)
    weak: set[str] = set()
    for phrase, canonical in INDUSTRY_SYNONYMS.items():
        target = next((v for k, v in lower.items() if k == canonical), None)
        if target is not None and phrase not in industries:
            industries[phrase] = target
            weak.add(phrase)
    names = sorted(industries, key=len, reverse=True)
    alternation = "|".join(re.escape(n).replace(r"\ ", r"[\s-]+") for n in names)
    industry_re = re.compile(
        rf"(?P<pre>\b(?:in|from|within|across|for)\s+(?:the\s+)?)?\b(?P<ind>{alternation})\b"
        rf"(?P<suf>\s+(?:sector|industry|industries|space|vertical|market)\b)?"
    )
    stored = {c.lower(): c for c in vocab.countries}
    countries: dict[str, str] = {}
    for alias, code in COUNTRY_ALIASES.items():
        if code.lower() in stored:
            countries[alias] = stored[code.lower()]
        elif _ISO_NAMES.get(code, "") in stored:
            countries[alias] = stored[_ISO_NAMES[code]]
    for value in vocab.countries:
        if len(value) > 3:
            countries[value.lower()] = value
    country_names = sorted(countries, key=len, reverse=True)
    country_re = re.compile(
        r"(?P<pre>\b(?:in|from|based\s+in|located\s+in|headquartered\s+in|across)\s+)?"
        rf"\b(?P<c>{'|'.join(re.escape(n) for n in country_names)})(?![\w.])"
    )
    upper = {code: stored.get(target.lower()) for code, target in _UPPER_CODES.items()}
    upper_re = re.compile(
        r"(?P<pre>\b(?:in|from|based\s+in|located\s+in)\s+)?\b(?P<c>"
        + "|".join(code for code, value in upper.items() if value)
        + r")\b"
        if any(upper.values())
        else r"(?!x)x"
    )
    return VocabularyPatterns(
        industries=industries,
        weak=frozenset(weak),
        industry_re=industry_re,
        countries=countries,
        country_re=country_re,
        upper=upper,
        upper_re=upper_re,
        stages=frozenset(s.lower() for s in vocab.stages),
        lifecycle=frozenset(s.lower() for s in vocab.lifecycle_stages),
    )
