"""Files of a saved hybrid index: the FAISS vectors, the documents and the metadata.

A saved index is a folder holding :data:`INDEX_FILE` (``faiss.write_index``),
:data:`DOCUMENTS_FILE` (one JSON document a line) and :data:`META_FILE` (format version,
encoder, document count, fingerprint of the documents and the index's options). The
fingerprint lets :meth:`~textai.search.index.HybridIndex.load_or_build` rebuild only when the
documents changed, and the metadata file's modification time tells a serving replica that the
saved index changed (:class:`~textai.search.build.SavedIndexWatcher`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textai.search.documents import SearchDocument
from textai.search.vector_index import VectorIndex

INDEX_FILE = "vectors.faiss"
DOCUMENTS_FILE = "documents.jsonl"
META_FILE = "meta.json"
FORMAT_VERSION = 1


def write_index_files(
    directory: str | Path,
    vectors: VectorIndex,
    documents: Sequence[SearchDocument],
    fingerprint: str,
    options: Mapping[str, Any],
) -> Path:
    """Write an index's vectors, documents and metadata to a folder.

    Args:
        directory: Destination folder (created when missing).
        vectors: The FAISS vectors, in document order.
        documents: The documents.
        fingerprint: Fingerprint of the documents.
        options: The index's options (fusion, rrf_k, alpha, candidates, title_weight).

    Returns:
        The folder.

    """
    from features.text_embeddings import MODEL_NAME

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    vectors.write(folder / INDEX_FILE)
    with (folder / DOCUMENTS_FILE).open("w", encoding="utf-8") as handle:
        for doc in documents:
            handle.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
    meta = {
        "format_version": FORMAT_VERSION,
        "model": MODEL_NAME,
        "documents": len(documents),
        "fingerprint": fingerprint,
        **options,
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return folder


def read_index_files(
    directory: str | Path,
) -> tuple[dict[str, Any], list[SearchDocument], np.ndarray]:
    """Read the files written by :func:`write_index_files`.

    Args:
        directory: The folder.

    Returns:
        ``(metadata, documents, embeddings)``, the embeddings in document order.

    Raises:
        FileNotFoundError: When a file is missing.
        ValueError: When the vector and document counts differ.

    """
    folder = Path(directory)
    for name in (INDEX_FILE, DOCUMENTS_FILE, META_FILE):
        if not (folder / name).exists():
            raise FileNotFoundError(f"search index file missing: {folder / name}")
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    with (folder / DOCUMENTS_FILE).open(encoding="utf-8") as handle:
        documents = [SearchDocument.from_dict(json.loads(line)) for line in handle if line.strip()]
    embeddings = VectorIndex.read_embeddings(folder / INDEX_FILE)
    if len(embeddings) != len(documents):
        raise ValueError(f"{len(embeddings)} vectors for {len(documents)} documents")
    return meta, documents, embeddings


def saved_fingerprint(directory: str | Path) -> str | None:
    """Return the documents' fingerprint recorded in a saved index (``None`` without one).

    Args:
        directory: Index folder.

    Returns:
        The fingerprint, or ``None`` when the folder holds no metadata file.

    """
    meta_path = Path(directory) / META_FILE
    if not meta_path.exists():
        return None
    return json.loads(meta_path.read_text(encoding="utf-8")).get("fingerprint")
