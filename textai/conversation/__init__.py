"""Conversation intelligence: transcripts in, summary, topics, sentiment, action items out.

Modules:
    transcript: parse transcripts ("Speaker: text", "#Person1#: text", "[00:01:02] Speaker:
        text", QMSum-style ``[{"speaker", "content"}]``) into turns; clean and split sentences.
    summarize: extractive summariser (MiniLM centrality + MMR under a word budget) with an
        optional abstractive pass through an injected LLM provider.
    topics: embedding TextTiling segmentation labelled with TF-IDF keywords.
    analyze: :class:`~textai.conversation.analyze.ConversationAnalyzer` (sentiment per speaker
        over time, action items, key moments, competitor alerts, coaching metrics and tips) and
        :func:`~textai.conversation.analyze.store_conversation_insight`.
    datasets: loaders of the DialogSum and QMSum (Product) evaluation sets.

Nothing is loaded at import time: the MiniLM encoder and the text models load on first use.
"""
