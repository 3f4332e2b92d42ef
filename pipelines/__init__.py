"""Prefect flows and deployments of recrl: thin wrappers around the library's stages."""
