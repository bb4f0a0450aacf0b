"""Processing of uploaded media: kind detection from the bytes, image variants (Pillow),
video poster and H.264 rendition (ffmpeg), published atomically under the media root."""
