"""What the sentiment head trains on: corpus splits, class indices, name-swap sentences.

The name-swap sentences feed the name-consistency penalty of
:func:`training.text.sentiment_lightning.fit_sentiment_network`: :data:`NAME_TEMPLATES` hold one
name slot each and :data:`NAME_FILLERS` the airline, company and person names swapped into them.
None of them is a test sentence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from training.text.corpora import SENTIMENT_LABELS, embed_corpus
from training.text.sentiment_model import SentimentConfig, normalise_text

#: Sentences with one name slot, for the name-consistency regulariser (not test sentences).
NAME_TEMPLATES: tuple[str, ...] = (
    "{} sent over the updated pricing sheet this morning.",
    "I spoke with {} about the renewal.",
    "Is {} still hosting the webinar on Thursday?",
    "We are switching to {} next quarter.",
    "Can someone from {} confirm the delivery date?",
    "I booked my trip with {}.",
    "{} is the point of contact for the integration.",
    "{} wants to move the kickoff to next week.",
    "{} asked for a copy of the invoice.",
    "Please forward this to {}.",
    "{} will join the call at 3pm.",
    "The contract with {} expires in June.",
    "We got a referral from {}.",
    "My connecting flight is with {}.",
    "{} just posted their quarterly results.",
    "Does {} allow two carry-on bags?",
    "{} is reviewing the proposal with legal.",
    "I have a meeting with {} tomorrow at 10.",
    "Our order from {} shipped on Monday.",
    "{} changed the gate for flight 302.",
    "I need to update my email address with {}.",
    "{} requested a demo for their sales team.",
    "How do I reach {} customer service?",
    "{} mentioned they are hiring two more engineers.",
    "The invoice from {} is attached.",
    "We are flying {} to Denver on Friday.",
    "{} is based in Chicago.",
    "Who at {} handles procurement?",
    "Our account manager at {} never returned my call.",
    "{} cancelled the meeting again without notice.",
    "{} charged us twice for the same order, unacceptable.",
    "Still waiting on {} to process the refund.",
    "Honestly {} has been a nightmare to deal with.",
    "The flight on {} was delayed three hours.",
    "{} lost our luggage and nobody helps.",
    "I've been on hold with {} for over an hour.",
    "{} keeps ignoring our support tickets.",
    "Very disappointed with how {} handled the outage.",
    "{} overbooked the flight and bumped me.",
    "The software from {} crashes every day.",
    "{} missed the deadline for the third time.",
    "Worst onboarding experience ever with {}.",
    "{} was rude to our team on the call.",
    "We are cancelling our subscription with {}.",
    "{} did an amazing job with the rollout!",
    "The support team at {} fixed the issue quickly.",
    "Thank you {} for the quick reply.",
    "Had a great call with {} today.",
    "{} loved the new dashboard.",
    "{} upgraded me to first class, so happy!",
    "Really impressed with the service from {}.",
    "{} signed the deal, great news!",
    "Kudos to {} for going above and beyond.",
    "The crew on {} was friendly and helpful.",
    "{} gave us a great discount on the renewal.",
    "Loving the new features {} shipped.",
    "{} resolved my complaint within minutes, thanks!",
    "Best customer experience I've had, thanks to {}.",
    "{} finally replied, but the answer did not help.",
    "Any update from {} on the contract?",
    "{} said the shipment might be late.",
    "Not sure if {} received my message.",
    "{} was okay, nothing special.",
    "We met {} at the conference last year.",
)

#: Airline, company and person names swapped into :data:`NAME_TEMPLATES`.
NAME_FILLERS: tuple[str, ...] = (
    "United",
    "Delta",
    "American Airlines",
    "Southwest",
    "JetBlue",
    "US Airways",
    "Virgin America",
    "Alaska Airlines",
    "Spirit",
    "Lufthansa",
    "Ryanair",
    "Emirates",
    "Acme",
    "Globex",
    "Initech",
    "Salesforce",
    "HubSpot",
    "Oracle",
    "Microsoft",
    "Contoso",
    "Northwind",
    "Umbrella Corp",
    "Stark Industries",
    "Wayne Enterprises",
    "James",
    "Mary",
    "Robert",
    "Linda",
    "Mohammed",
    "Fatima",
    "Carlos",
    "Sofia",
    "Hiroshi",
    "Yuki",
    "Olumide",
    "Chen",
    "Anna",
    "Kevin",
    "Lakshmi",
    "Pierre",
    "Ingrid",
    "Jamal",
    "Emily",
    "Diego",
    "Nguyen",
    "Sarah",
    "Ahmed",
    "Olga",
)


def embed_name_swaps(*, cache_dir: Path | None = None) -> np.ndarray:
    """Embed every :data:`NAME_TEMPLATES` x :data:`NAME_FILLERS` sentence (cached on disk).

    Args:
        cache_dir: Embedding cache folder (default ``<HASTE_HOME>/cache/embeddings``).

    Returns:
        Array of shape ``(len(NAME_TEMPLATES), len(NAME_FILLERS), 384)``.
    """
    sentences = [
        normalise_text(template.format(name))
        for template in NAME_TEMPLATES
        for name in NAME_FILLERS
    ]
    vectors = embed_corpus(sentences, cache_dir=cache_dir)
    return vectors.reshape(len(NAME_TEMPLATES), len(NAME_FILLERS), -1)


def split_airline(
    tweets: pd.DataFrame, config: SentimentConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split the tweets into stratified train / validation / test parts.

    Args:
        tweets: Output of :func:`~training.text.corpora.load_airline_tweets`.
        config: Split fractions and seed.

    Returns:
        ``(train, val, test)`` frames.
    """
    rest, test = train_test_split(
        tweets, test_size=config.test_size, stratify=tweets["label"], random_state=config.seed
    )
    val_fraction = config.val_size / (1.0 - config.test_size)
    train, val = train_test_split(
        rest, test_size=val_fraction, stratify=rest["label"], random_state=config.seed
    )
    return train, val, test


def split_uci(
    sentences: pd.DataFrame, config: SentimentConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the UCI sentences into a training part and a held-out part.

    Args:
        sentences: Output of :func:`~training.text.corpora.load_uci_sentences`.
        config: ``uci_train_fraction`` and seed.

    Returns:
        ``(train, heldout)``; ``train`` is empty when the fraction is 0.
    """
    if config.uci_train_fraction <= 0:
        return sentences.iloc[:0], sentences
    strata = sentences["source"] + ":" + sentences["label"]
    train, heldout = train_test_split(
        sentences,
        train_size=config.uci_train_fraction,
        stratify=strata,
        random_state=config.seed,
    )
    return train, heldout


def label_indices(labels: pd.Series) -> np.ndarray:
    """Return the class index (order of :data:`SENTIMENT_LABELS`) of each label."""
    lookup = {label: index for index, label in enumerate(SENTIMENT_LABELS)}
    return labels.map(lookup).to_numpy(dtype=np.int64)
