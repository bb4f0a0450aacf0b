"""ACRCloud audio identification (Identification API v1, `POST <host>/v1/identify`).

Protocol (APIS.md §2): a multipart form with the audio in the file part `sample`
(`application/octet-stream`) and the text fields `sample_bytes`, `access_key`,
`data_type=audio`, `signature_version=1`, `signature`, `timestamp`. There are no auth
headers: the signature is

    base64(HMAC-SHA1(access_secret,
                     "POST\\n/v1/identify\\n<access_key>\\n<data_type>\\n<signature_version>\\n<timestamp>"))

with the timestamp an integer string of Unix seconds, the same bytes in the form as in the
signed string. The form is signed at each send (a `requests` auth hook), not once per call:
the shared rate limiter may hold a request for a minute before it goes out, and ApiClient's
retries go out later still, each with a fresh timestamp.

ACRCloud answers HTTP 200 whatever happened, with `status.code`:
- 0: candidates in `metadata.music` (sorted by score) -> `IdentifyResult(matched=True)`;
- 1001: no result -> `IdentifyResult(matched=False)`, not an error;
- 3003 (quota) and 3015 (QpS limit) -> `AcrCloudLimitExceeded`, transient: retry later;
- 3000 (the service's own error) -> `AcrCloudServiceError`, transient;
- 3001, 3002, 3006, 3014 and any other code -> `AcrCloudError`, permanent (the same
  request gets the same refusal: a bad key, signature or sample);
- an answer that is not a JSON object, has no integer `status.code`, or whose candidates
  have the wrong types -> `AcrCloudError` naming what is wrong.
HTTP-level failures (5xx, 429, connection errors) are ApiClient's: retried with backoff, then
`RetryableApiError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import requests
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from include.common.errors import TransientError
from include.common.http import ApiClient, ApiError

log = logging.getLogger(__name__)

PATH = "/v1/identify"
SIGNATURE_VERSION = "1"
DATA_TYPES = ("audio", "fingerprint")
NO_RESULT = 1001
LIMIT_CODES = {3003: "limit exceeded (request quota)", 3015: "QpS limit exceeded"}
SERVICE_ERROR = 3000
MAX_SAMPLE_BYTES = 5 * 1024 * 1024  # the documented limit of a sample


class AcrCloudError(ApiError):
    """ACRCloud refused the request or answered something unreadable (permanent)."""

    def __init__(self, message: str, *, code: int | None = None, raw: Any = None):
        self.code, self.raw = code, raw
        super().__init__(f"ACRCloud: {message}", method="POST", url=PATH)


class AcrCloudLimitExceeded(TransientError, AcrCloudError):
    """3003/3015: the project's quota or QpS limit; a later try gets through (TransientError
    comes first in the class order, so the error policy retries it)."""


class AcrCloudServiceError(TransientError, AcrCloudError):
    """3000: ACRCloud's own service error, answered in the body."""


def string_to_sign(access_key: str, timestamp: str, *, data_type: str = "audio",
                   signature_version: str = SIGNATURE_VERSION) -> str:
    """The exact string of APIS.md §2.3 (no trailing newline)."""
    return "\n".join(["POST", PATH, access_key, data_type, signature_version, timestamp])


def sign(access_key: str, access_secret: str, timestamp: str, *, data_type: str = "audio",
         signature_version: str = SIGNATURE_VERSION) -> str:
    """base64(HMAC-SHA1(access_secret, string_to_sign)) as text."""
    message = string_to_sign(access_key, timestamp, data_type=data_type, signature_version=signature_version)
    digest = hmac.new(access_secret.encode(), message.encode("ascii"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def form_fields(access_key: str, access_secret: str, sample_bytes: int, timestamp: str, *,
                data_type: str = "audio") -> dict[str, str]:
    """The text fields of the form, signed for `timestamp` (which goes in as is)."""
    return {
        "access_key": access_key,
        "sample_bytes": str(sample_bytes),
        "timestamp": timestamp,
        "signature": sign(access_key, access_secret, timestamp, data_type=data_type),
        "data_type": data_type,
        "signature_version": SIGNATURE_VERSION,
    }


class _SignAtSend(requests.auth.AuthBase):
    """Builds the multipart body when requests prepares each attempt, with that moment's
    timestamp and signature (requests calls the auth hook once per Session.request)."""

    def __init__(self, access_key: str, access_secret: str, sample: bytes, data_type: str,
                 clock: Callable[[], float]):
        self.access_key, self.access_secret = access_key, access_secret
        self.sample, self.data_type, self.clock = sample, data_type, clock
        self.sent_timestamps: list[str] = []

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        timestamp = str(int(self.clock()))
        fields = form_fields(self.access_key, self.access_secret, len(self.sample), timestamp,
                             data_type=self.data_type)
        r.headers.pop("Content-Type", None)  # a new body has a new multipart boundary
        r.prepare_body(data=fields, files={"sample": ("sample", self.sample, "application/octet-stream")})
        self.sent_timestamps.append(timestamp)
        return r


# -- the answer ------------------------------------------------------------------------------

def _int(value: Any) -> int:
    """An integer from an int, an integral float or a decimal string ("100", "95.0");
    ACRCloud's older examples send numbers as strings."""
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.0*)?\s*", value):
        return int(float(value))
    raise ValueError(f"not an integer: {value!r}")


def _names(value: Any) -> tuple[str, ...]:
    """`[{"name": "Adele"}, ...]` -> ("Adele", ...); absent -> ()."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"artists must be a list, got {type(value).__name__}")
    names = []
    for artist in value:
        name = artist.get("name") if isinstance(artist, dict) else None
        if not isinstance(name, str):
            raise ValueError(f"an artist without a name: {artist!r}")
        if name.strip():
            names.append(name.strip())
    return tuple(names)


def _album(value: Any) -> str | None:
    if value is None:
        return None
    name = value.get("name") if isinstance(value, dict) else None
    if name is not None and not isinstance(name, str):
        raise ValueError(f"album.name must be text, got {name!r}")
    return (name.strip() or None) if name else None


def _isrc(value: Any) -> str | None:
    """`external_ids.isrc`: a string in identify results, a list in broadcast monitoring
    (the first is taken)."""
    if value is None:
        return None
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
        if value is None:
            return None
    if not isinstance(value, str):
        raise ValueError(f"external_ids.isrc must be text or a list of text, got {value!r}")
    return value.strip().upper() or None


RELEASE_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?")


def _release_date(value: Any) -> str | None:
    """Lenient: the ISO prefix `YYYY`, `YYYY-MM` or `YYYY-MM-DD` of the value as text (a
    partial date stays partial); anything else is dropped, not an error."""
    if not isinstance(value, str):
        return None
    match = RELEASE_DATE.match(value.strip())
    return match.group(0) if match else None


class Candidate(BaseModel):
    """One `metadata.music[]` entry, reduced to what we store and show."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(min_length=1)
    artists: Annotated[tuple[str, ...], BeforeValidator(_names)] = ()
    album: Annotated[str | None, BeforeValidator(_album)] = None
    isrc: str | None = None
    score: Annotated[int, BeforeValidator(_int)] = Field(ge=0, le=100)
    acrid: str | None = None
    release_date: Annotated[str | None, BeforeValidator(_release_date)] = None

    @classmethod
    def from_music(cls, music: Any) -> Candidate:
        if not isinstance(music, dict):
            raise ValueError(f"a metadata.music entry must be an object, got {type(music).__name__}")
        external = music.get("external_ids")
        if external is not None and not isinstance(external, dict):
            raise ValueError(f"external_ids must be an object, got {type(external).__name__}")
        fields = {k: music[k] for k in ("title", "artists", "album", "score", "acrid", "release_date") if k in music}
        fields["isrc"] = _isrc((external or {}).get("isrc"))
        return cls.model_validate(fields)


@dataclass(frozen=True)
class IdentifyResult:
    status_code: int  # 0 or 1001
    message: str
    candidates: tuple[Candidate, ...]  # best first
    raw: dict  # the whole answer, as stored

    @property
    def matched(self) -> bool:
        return bool(self.candidates)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def parse_answer(body: Any) -> IdentifyResult:
    """The result of an identify answer, or the error its status code means (module docstring)."""
    if not isinstance(body, dict):
        raise AcrCloudError(f"answer is not a JSON object: {str(body)[:200]!r}", raw=body)
    status = body.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if type(code) is not int:  # documented as an integer: "0" is a different API's answer, not ours
        raise AcrCloudError(f"answer has no integer status.code: {str(body)[:200]!r}", raw=body)
    msg = status.get("msg")
    message = msg if isinstance(msg, str) else ""
    if code == NO_RESULT:
        return IdentifyResult(code, message, (), body)
    if code in LIMIT_CODES:
        raise AcrCloudLimitExceeded(f"{code} {message or LIMIT_CODES[code]}", code=code, raw=body)
    if code == SERVICE_ERROR:
        raise AcrCloudServiceError(f"{code} {message or 'service error'}", code=code, raw=body)
    if code != 0:
        raise AcrCloudError(f"refused with code {code}: {message or 'no message'}", code=code, raw=body)
    metadata = body.get("metadata")
    music = metadata.get("music") if isinstance(metadata, dict) else None
    if not isinstance(music, list) or not music:
        raise AcrCloudError(f"status 0 without a metadata.music list: {str(body)[:200]!r}", code=code, raw=body)
    candidates = []
    for i, entry in enumerate(music):
        try:
            candidates.append(Candidate.from_music(entry))
        except (ValidationError, ValueError) as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
                if isinstance(exc, ValidationError) else str(exc)
            raise AcrCloudError(f"metadata.music[{i}] is malformed ({detail})", code=code, raw=body) from None
    candidates.sort(key=lambda c: -c.score)  # documented as sorted; stable if it already is
    return IdentifyResult(code, message, tuple(candidates), body)


# -- the client ------------------------------------------------------------------------------

class AcrCloudClient:
    """`identify(sample)` over an ApiClient whose base URL is the project's identify host."""

    def __init__(self, api: ApiClient, access_key: str, access_secret: str, *,
                 clock: Callable[[], float] = time.time):
        if not access_key or not access_secret:
            raise ValueError("ACRCloud needs an access key and an access secret")
        self.api, self.access_key, self.access_secret, self.clock = api, access_key, access_secret, clock

    def identify(self, sample: bytes, *, data_type: str = "audio") -> IdentifyResult:
        """Identify `sample` (audio bytes); see the module docstring for what it returns and raises."""
        if data_type not in DATA_TYPES:
            raise ValueError(f"data_type must be one of {DATA_TYPES}, got {data_type!r}")
        if not sample:
            raise ValueError("an empty sample cannot be identified")
        if len(sample) > MAX_SAMPLE_BYTES:
            raise ValueError(f"sample of {len(sample)} bytes exceeds ACRCloud's {MAX_SAMPLE_BYTES} bytes")
        signer = _SignAtSend(self.access_key, self.access_secret, sample, data_type, self.clock)
        # Identification changes nothing on ACRCloud's side: a retry after an ambiguous
        # failure is safe (it costs one more request of the quota).
        response = self.api.request("POST", PATH.lstrip("/"), auth=signer, idempotent=True)
        try:
            body = response.json()
        except ValueError:
            raise AcrCloudError(f"answer (HTTP {response.status_code}) is not JSON: {response.text[:200]!r}") from None
        result = parse_answer(body)
        log.info("ACRCloud identify: code %s, %d candidate(s)%s", result.status_code, len(result.candidates),
                 f", best {result.best.title!r} score {result.best.score}" if result.best else "")
        return result
