"""Trained text models of the platform: sentiment and action-item (request) detection.

Both models sit on frozen all-MiniLM-L6-v2 sentence embeddings
(:mod:`features.text_embeddings`) and are trained on the real public corpora in
``../shared/datasets`` (:mod:`training.text.corpora`).
"""
