"""Why an uploaded recording or transcript file is refused, with the HTTP status to answer.

Each error carries ``status_code`` so the serving layer answers it without a mapping of its own:
empty upload 422, unsupported format 415, too large 413, no speech-to-text provider 503.
"""

from __future__ import annotations


class UploadError(ValueError):
    """An upload that cannot be used (the message says why and what is accepted)."""

    status_code = 422


class EmptyUploadError(UploadError):
    """The file has no bytes (or only whitespace)."""

    status_code = 422


class UnsupportedUploadError(UploadError):
    """The file is neither a supported audio format nor a supported transcript file."""

    status_code = 415


class UploadTooLargeError(UploadError):
    """The file (or the transcript it holds) is over the configured limit."""

    status_code = 413


class TranscriptionUnavailableError(RuntimeError):
    """Audio cannot be transcribed now: no provider configured, no key, or it is unreachable."""

    status_code = 503
