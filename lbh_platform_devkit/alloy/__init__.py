"""The Alloy API simulator."""
