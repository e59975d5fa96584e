"""The static gallery: the manifest turned into typed page views and rendered with Jinja2 into a
folder swapped in whole. Never imports torch."""
