"""The front door: the command line, the Python API, the configuration a build is made from, the
pytest plugin and the extensions found through entry points. Everything here produces a
``BuildConfig`` and hands it to the core."""
