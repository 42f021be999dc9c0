"""Alloy (environmental services) ingestion: datasets, export client, transforms, simulator."""
