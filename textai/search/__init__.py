"""Semantic search over the CRM: contacts, companies, deals, emails and call/meeting transcripts.

The package has four parts:

* :mod:`textai.search.documents` turns CRM rows (frames or the platform database) into
  :class:`~textai.search.documents.SearchDocument` objects whose ``attributes`` hold the
  filterable fields (deal amount, stage, close date, industry, country...);
* :mod:`textai.search.query_parser` parses natural-language queries ("deals over 50k in
  healthcare closing this quarter") into structured filters, entity types and a free-text
  remainder with rules, recognises the search intent with a nearest-centroid classifier over
  MiniLM embeddings and suggests query completions;
* :mod:`textai.search.index` holds :class:`~textai.search.index.HybridIndex`: a FAISS
  ``IndexFlatIP`` over all-MiniLM-L6-v2 embeddings plus a BM25 keyword index, exact filters
  applied before ranking, and a fusion of the two rankings (convex combination of normalised
  scores by default, reciprocal-rank fusion as an option);
* :mod:`textai.search.evaluate` builds a labelled query set from the seeded synthetic CRM and
  measures recall@10 and MRR of hybrid, semantic-only and keyword-only retrieval.

Nothing is loaded at import time: the encoder is loaded on the first embedding call.
"""
