"""The API stand-ins. To add one: write `sandbox/apis/<module>.py` declaring
`api = SandboxApi(name=..., error_body=...)` with routes on `api.router`, then add the
module name below."""

API_MODULES = (
    "google_oauth",
    "fcm",
    "llm",
    "youtube_analytics",
    "adsense",
    "soundcharts",
    "acrcloud",
    "meta_ads",
    "tiktok_ads",
    "google_ads",
)
