"""The errors of media processing, split by what a retry can change (include/common/errors.py)."""

from __future__ import annotations

from include.common.errors import PermanentError, TransientError


class UnprocessableMedia(PermanentError):
    """The file itself is the problem (corrupt, unsupported, outside the media root): the
    upload is recorded as `failed` with this message and retrying cannot help."""


class MediaNotFound(PermanentError, LookupError):
    """No `social.media_uploads` row has this id."""


class MediaBusy(TransientError, RuntimeError):
    """Another run holds this upload's lock; a retry later will find it free."""
