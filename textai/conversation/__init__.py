"""Conversation intelligence: transcripts in, summary, topics, sentiment, action items out.

Modules:
    transcript: parse transcripts ("Speaker: text", "#Person1#: text", "[00:01:02] Speaker:
        text", QMSum-style ``[{"speaker", "content"}]``) into turns; clean and split sentences.
    config: competitors, keywords and thresholds (``configs/conversation.yaml``).
    participants: match participant names to speakers; find the reps.
    summarize: extractive summariser (MiniLM centrality + MMR under a word budget) with an
        optional abstractive pass through an injected LLM provider.
    topics: embedding TextTiling segmentation labelled with TF-IDF keywords.
    speaker_sentiment: sentiment per turn, per speaker over time, and overall.
    action_items: action-item sentences (classifier plus cues), owner guesses, due phrases.
    key_moments: sentiment swings, competitor mentions, pricing/objection/next-step hits.
    competitors: competitor mentions and alerts.
    talk_metrics: talk ratio, longest monologue, question rate, interruptions, duration.
    coaching: coaching metrics and tips.
    analyze: :class:`~textai.conversation.analyze.ConversationAnalyzer` (runs the steps above)
        and its :class:`~textai.conversation.analyze.ConversationAnalysis`.
    insight_store: :func:`~textai.conversation.insight_store.store_conversation_insight`
        (the ``conversation_insights`` row).
    request: :class:`~textai.conversation.request.ConversationAnalyzeRequest` (the API body,
        one definition shared with the gateway) and
        :func:`~textai.conversation.request.analyze_request`.

The DialogSum and QMSum (Product) evaluation sets load from :mod:`pipelines.corpora.dialogue`.

Nothing is loaded at import time: the MiniLM encoder and the text models load on first use.
"""
