"""ACRCloud Identification API v1: POST /v1/identify (stands in for
https://identify-<region>.acrcloud.com/v1/identify).

Speaks the documented protocol: a multipart form with `sample` (file part), `sample_bytes`,
`access_key`, `data_type` (audio | fingerprint), `signature_version` (1), `timestamp` (epoch
seconds; the official SDK sends an int, the webapi example a float string) and `signature` =
base64(HMAC-SHA1(access_secret, "POST\\n/v1/identify\\n<access_key>\\n<data_type>\\n1\\n<timestamp>")),
recomputed here from the form fields. Every answer is HTTP 200 with `status.code`, as
ACRCloud's are, except the 5xx fault (HTTP 503, code 3000):

- 0 Success with `metadata.music[]` (one or two candidates, best score first), or 1001 No result;
- 3001 missing or unknown access_key; 3014 bad or missing signature, or a timestamp more than
  SANDBOX_ACRCLOUD_MAX_SKEW seconds (default 600; 0 turns the check off) from the server clock;
- 3006 invalid arguments (data_type, signature_version, sample missing or empty or over 5 MB,
  sample_bytes not the sample's length); 3002 a body that is not a multipart form;
- 3015 (QpS limit) for the status_429 fault switch, 3003 (quota) for a forced sample.

Credentials: SANDBOX_ACRCLOUD_ACCESS_KEY / SANDBOX_ACRCLOUD_ACCESS_SECRET, default
`sandbox-acr-key` / `sandbox-acr-secret`.

The result is a function of the sample's bytes: a sample whose SHA-512 falls in the known
share (KNOWN_FRACTION) is a song of include/demo/music_data.py (the same title, artists,
ISRC and Spotify track id as the Soundcharts stand-in), any other gets 1001. Tests force an
outcome with a sample starting with SANDBOX-MATCH, SANDBOX-NORESULT, SANDBOX-QUOTA (3003) or
SANDBOX-QPS (3015). The request log keeps each sample's size and SHA-256, never its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from datetime import UTC, datetime

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from include.demo import music_data
from sandbox.registry import SandboxApi

DEFAULT_ACCESS_KEY = "sandbox-acr-key"
DEFAULT_ACCESS_SECRET = "sandbox-acr-secret"
DEFAULT_MAX_SKEW = 600
MAX_SAMPLE_BYTES = 5 * 1024 * 1024
KNOWN_FRACTION = 0.8
PATH = "/v1/identify"
FORCED = {b"SANDBOX-NORESULT": 1001, b"SANDBOX-QUOTA": 3003, b"SANDBOX-QPS": 3015, b"SANDBOX-MATCH": 0}
MESSAGES = {
    0: "Success", 1001: "No result", 3000: "Service unavailable", 3001: "Missing/Invalid Access Key",
    3002: "HTTP content is invalid", 3003: "Limit exceeded, please upgrade your account",
    3006: "Invalid arguments", 3014: "Invalid signature", 3015: "QpS limit exceeded",
}


def status_body(code: int, detail: str = "") -> dict:
    msg = MESSAGES.get(code, "Error")
    return {"status": {"msg": f"{msg}: {detail}" if detail and code not in (0, 1001, 3014) else msg,
                       "code": code, "version": "1.0"}}


def _error_body(status: int, message: str) -> dict:
    """Errors of the sandbox itself (e.g. a 422) in ACRCloud's status format."""
    return status_body(3000 if status >= 500 else 3006, message)


def _fault(status: int, retry_after: int) -> Response:
    if status == 429:  # ACRCloud throttles with HTTP 200 and 3015, no Retry-After
        return JSONResponse(status_body(3015))
    return JSONResponse(status_body(3000), status_code=503)


api = SandboxApi(name="acrcloud", error_body=_error_body, fault_response=_fault)


def signature(access_secret: str, access_key: str, data_type: str, signature_version: str, timestamp: str) -> str:
    string_to_sign = "\n".join(("POST", PATH, access_key, data_type, signature_version, timestamp))
    digest = hmac.new(access_secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _unit(digest: bytes, at: int) -> float:
    return int.from_bytes(digest[at:at + 4], "big") / 2**32


def _hex(*parts: object, size: int) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=size).hexdigest()


def _candidate(song_uuid: str, digest: bytes, score: int) -> dict:
    """One `metadata.music[]` entry for a song of the demo catalogue."""
    song = music_data.song(song_uuid)
    duration_ms = song["duration"] * 1000 + int(_unit(digest, 8) * 1000)
    play_offset = 10_000 + int(_unit(digest, 12) * (duration_ms - 20_000))
    sample_ms = 10_000
    spotify_track = music_data.platform_id(song_uuid, "spotify")
    entry = {
        "title": song["name"],
        "artists": [{"name": a["name"]} for a in song["artists"]],
        "album": {"name": f"{song['name']} - Single"},
        "acrid": _hex("acrid", song_uuid, size=16),
        "label": song["labels"][0]["name"],
        "release_date": song["releaseDate"][:10],
        "duration_ms": duration_ms,
        "play_offset_ms": play_offset,
        "db_begin_time_offset_ms": play_offset - sample_ms,
        "db_end_time_offset_ms": play_offset,
        "sample_begin_time_offset_ms": 0,
        "sample_end_time_offset_ms": sample_ms,
        "score": score,
        "result_from": 3,
        "genres": [{"name": g["root"].title()} for g in song["genres"]],
        "language": "en",
        "external_ids": {"isrc": song["isrc"]["value"], "upc": str(int(_hex("upc", song_uuid, size=8), 16))[:12]},
        "external_metadata": {
            "spotify": {"track": {"id": spotify_track, "name": song["name"]},
                        "artists": [{"id": music_data.platform_id(a["uuid"], "spotify"), "name": a["name"]}
                                    for a in song["artists"]],
                        "album": {"id": music_data.platform_id(song_uuid, "spotify-album"),
                                  "name": f"{song['name']} - Single"}},
            "deezer": {"track": {"id": str(int(_hex("deezer", song_uuid, size=4), 16))}},
            "youtube": {"vid": music_data.platform_id(song_uuid, "youtube")[:11]},
        },
    }
    # The optional fields are absent for some songs, as in real results.
    optional = _hex("optional", song_uuid, size=4)
    if int(optional[0], 16) < 3:
        del entry["genres"]
    if int(optional[1], 16) < 2:
        del entry["label"]
    if int(optional[2], 16) < 2:
        del entry["external_metadata"]
    if int(optional[3], 16) < 1:
        entry["release_date"] = entry["release_date"][:4]  # a year only
    return entry


def _result(digest: bytes) -> dict:
    uuids = music_data.song_uuids()
    first = uuids[int.from_bytes(digest[16:20], "big") % len(uuids)]
    top = 85 + int(_unit(digest, 20) * 16)  # 85..100
    music = [_candidate(first, digest, top)]
    if digest[24] % 3 == 0:  # a second, weaker candidate
        second = uuids[(int.from_bytes(digest[25:29], "big") + 1) % len(uuids)]
        if second != first:
            music.append(_candidate(second, digest[::-1], 70 + int(_unit(digest, 28) * (top - 70))))
    return {**status_body(0), "result_type": 0, "cost_time": round(0.2 + _unit(digest, 4) * 0.8, 3),
            "metadata": {"timestamp_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), "music": music}}


def _malformed(body: dict, digest: bytes) -> dict:
    """A success body with one broken type, chosen by the sample's hash."""
    music = body["metadata"]["music"]
    kind = digest[30] % 6
    if kind == 0:
        music[0]["score"] = "high"
    elif kind == 1:
        music[0]["duration_ms"] = "n/a"
    elif kind == 2:
        music[0]["artists"] = music[0]["artists"][0]["name"]  # a string, not a list
    elif kind == 3:
        body["status"]["code"] = "0"
    elif kind == 4:
        body["metadata"]["music"] = music[0]  # an object, not a list
    else:
        del music[0]["title"]
    return body


def _reject(code: int, detail: str = "") -> JSONResponse:
    return JSONResponse(status_body(code, detail))


@api.router.post(PATH)
async def identify(request: Request):
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return _reject(3002, "expected a multipart/form-data body")
    try:
        form = await request.form(max_part_size=MAX_SAMPLE_BYTES)
    except Exception as exc:  # a broken multipart body: python-multipart raises several kinds
        return _reject(3002, str(exc))
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    access_key = fields.get("access_key", "")
    if not access_key or access_key != os.environ.get("SANDBOX_ACRCLOUD_ACCESS_KEY", DEFAULT_ACCESS_KEY):
        return _reject(3001)
    data_type, version = fields.get("data_type", ""), fields.get("signature_version", "")
    if data_type not in ("audio", "fingerprint"):
        return _reject(3006, f"data_type must be audio or fingerprint, got {data_type!r}")
    if version != "1":
        return _reject(3006, f"signature_version must be 1, got {version!r}")
    timestamp, sent = fields.get("timestamp", ""), fields.get("signature", "")
    secret = os.environ.get("SANDBOX_ACRCLOUD_ACCESS_SECRET", DEFAULT_ACCESS_SECRET)
    expected = signature(secret, access_key, data_type, version, timestamp)
    if not sent or not timestamp or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _reject(3014)
    try:
        skew = abs(time.time() - float(timestamp))
    except ValueError:
        return _reject(3014)
    max_skew = float(os.environ.get("SANDBOX_ACRCLOUD_MAX_SKEW", DEFAULT_MAX_SKEW))
    if max_skew and skew > max_skew:
        return _reject(3014)
    upload = form.get("sample")
    if not isinstance(upload, UploadFile):
        return _reject(3006, "the sample file part is missing")
    sample = await upload.read()
    if not sample or len(sample) > MAX_SAMPLE_BYTES:
        return _reject(3006, f"the sample must have 1 to {MAX_SAMPLE_BYTES} bytes, got {len(sample)}")
    if fields.get("sample_bytes") != str(len(sample)):
        return _reject(3006, f"sample_bytes {fields.get('sample_bytes')!r} is not the sample's {len(sample)} bytes")

    digest = hashlib.sha512(sample).digest()
    forced = next((code for prefix, code in FORCED.items() if sample.startswith(prefix)), None)
    if forced is None:
        forced = 0 if _unit(digest, 0) < KNOWN_FRACTION else 1001
    if forced:
        return _reject(forced)
    body = _result(digest)
    if _unit(digest, 32) < getattr(request.state, "malformed_fraction", 0.0):
        request.state.malformed_count = 1
        body = _malformed(body, digest)
    return body
