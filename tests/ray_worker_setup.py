"""Run in every Ray worker of the executor tests (``worker_process_setup_hook``): registers the
tests' tiny model, and, when REPORTGEN_TEST_DIE_ONCE names a file that does not exist yet, makes
the first filters job kill its worker process mid-build (after writing that file)."""
import os
from pathlib import Path


def setup() -> None:
    import conftest  # noqa: F401  registers the "tiny" model
    from reportgen.techniques import filters

    marker = os.environ.get("REPORTGEN_TEST_DIE_ONCE")
    if not marker:
        return
    compute = filters.Filters.compute

    def die_once(self, params, model, requests, progress):
        if not Path(marker).exists():
            Path(marker).write_text(f"worker {os.getpid()} killed itself mid-build\n")
            os._exit(1)
        return compute(self, params, model, requests, progress)

    filters.Filters.compute = die_once
