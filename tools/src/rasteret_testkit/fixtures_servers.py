"""Loopback server fixtures: object server (HTTP Range + S3 path-style), moto S3, STAC API."""
