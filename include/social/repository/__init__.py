"""SQL of the social domain, one module per service of include/social/ and named after it:
`content_analytics`, `digest`, `engagement`, `old_posts`, `tokens`, `trending`,
`user_statistics`, `welcome`, and `media` for the media package (include/social/media/).

Shared on purpose: `user_statistics.clear_marks` also serves engagement.py, since the
counters and the engagement scores keep their change marks the same way (a table of dirty
ids, emptied before a full run)."""
