"""Packaging metadata lives in pyproject.toml; this file stays for tools that look for it."""

from setuptools import setup

setup()
