"""Cameras: colour and depth ingest into ring buffers, image decoding, and the clip a request collects."""
