"""Google OAuth 2 token endpoint (stands in for https://oauth2.googleapis.com/token), shared
by every Google API client: service-account JWT grants and refresh-token grants.

Its own API name so that fault switches on a Google API do not also hit token fetches."""

from __future__ import annotations

import secrets

from fastapi import Request

from sandbox.errors import error_response, oauth_error
from sandbox.registry import SandboxApi

api = SandboxApi(name="google_oauth", error_body=oauth_error)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Which form field each supported grant needs.
GRANT_FIELD = {JWT_BEARER: "assertion", "refresh_token": "refresh_token"}
TOKEN_LIFETIME = 3600


@api.router.post("/token")
async def token(request: Request):
    form = await request.form()
    grant_type = form.get("grant_type")
    if grant_type not in GRANT_FIELD:
        return error_response(400, oauth_error(400, f"Invalid grant_type: {grant_type}",
                                               "unsupported_grant_type"))
    credential = form.get(GRANT_FIELD[grant_type])
    if not credential:
        return error_response(400, oauth_error(400, f"Missing {GRANT_FIELD[grant_type]}"))
    if str(credential).startswith("invalid-"):  # lets tests exercise a rejected credential
        return error_response(400, oauth_error(400, "Bad Request", "invalid_grant"))
    if grant_type == "refresh_token" and str(credential).startswith("revoked-"):  # the user revoked access
        return error_response(400, oauth_error(400, "Token has been expired or revoked.", "invalid_grant"))
    return {"access_token": f"sandbox-{secrets.token_urlsafe(24)}",
            "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
