"""Semantic search over the CRM: contacts, companies, deals, emails and call/meeting transcripts.

The package has five parts:

* :mod:`textai.search.documents` turns CRM rows (frames or the platform database) into
  :class:`~textai.search.documents.SearchDocument` objects whose ``attributes`` hold the
  filterable fields (deal amount, stage, close date, industry, country...);
* query understanding: :mod:`textai.search.query_parser` parses natural-language queries
  ("deals over 50k in healthcare closing this quarter") into structured filters
  (:mod:`~textai.search.query_model`), entity types and a free-text remainder with rules, its
  extractors living in :mod:`~textai.search.number_filters`,
  :mod:`~textai.search.category_filters`, :mod:`~textai.search.time_phrases` and
  :mod:`~textai.search.entity_words`; :mod:`textai.search.intents` recognises the search
  intent with a nearest-centroid classifier over MiniLM embeddings and
  :mod:`textai.search.suggestions` suggests query completions;
* :mod:`textai.search.index` holds :class:`~textai.search.index.HybridIndex`: a FAISS
  ``IndexFlatIP`` over all-MiniLM-L6-v2 embeddings (:mod:`~textai.search.vector_index`) plus
  a BM25 keyword index (:mod:`~textai.search.keyword`), exact filters applied before ranking
  (:mod:`~textai.search.attribute_filters`), and a fusion of the two rankings
  (:mod:`~textai.search.fusion`: convex combination of normalised scores by default,
  reciprocal-rank fusion as an option), saved by :mod:`~textai.search.index_store`;
* :mod:`textai.search.build` builds or loads the saved index for the flows and serving, and
  reloads it when the saved copy changes;
* :mod:`textai.search.evaluate` builds a labelled query set from the seeded synthetic CRM and
  measures recall@10 and MRR of hybrid, semantic-only and keyword-only retrieval.

Nothing is loaded at import time: the encoder is loaded on the first embedding call.
"""
