"""Cross-source monitoring: freshness and volume checks from configuration, and the alert
sensors. Each source's ``definitions.py`` calls the check factories for its own assets."""
