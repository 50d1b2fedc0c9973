"""The text-AI domain, beside ``training/``: framework-free (no FastAPI, no Ray).

* :mod:`textai.llm`: providers over the official SDKs, the offline MiniLM provider, the client
  with fallbacks, versioned prompts, budgets, usage and PII redaction;
* :mod:`textai.email`: composition, replies, subject optimisation, template mining, sentiment;
* :mod:`textai.conversation`: transcripts, summaries, topics, action items, coaching;
* :mod:`textai.search`: CRM documents, the hybrid index, query parsing and intents.

``serving/`` exposes these over HTTP and Ray Serve; ``flows/`` runs their offline steps.
"""
