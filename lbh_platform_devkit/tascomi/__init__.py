"""The Tascomi API simulator."""
