"""LLM subsystem: provider adapters, fallback chain, response cache and offline model.

``config.py`` reads ``configs/llm.yaml`` (providers, prices, the fallback chain, the cache),
``providers.py`` adapts the OpenAI and Anthropic SDKs (and OpenAI-compatible servers such as
vLLM or Ollama) to one request/response shape, and ``client.py`` adds retries with exponential
backoff, the fallback chain and the response cache on top. Nothing here imports FastAPI or Ray.

The offline provider (``offline.py`` and its ``offline_*`` modules) writes from the
successful-email corpus (``email_index.py``) with the email-writing rules kept in this layer
(``email_tone.py``, ``subject_rewrites.py``, ``incoming_email.py``), so that the email AI
(:mod:`textai.email`) depends on this package and never the other way round.
"""
