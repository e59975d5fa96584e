"""Run in every Ray worker of the executor tests (``worker_process_setup_hook``): registers the
tests' tiny model, and, when REPORTGEN_TEST_DIE_ONCE names a file that does not exist yet, makes
the first feature-maps chunk kill its worker process mid-build, after storing its first result
(and writing that file)."""
import os
from pathlib import Path


def setup() -> None:
    import conftest  # noqa: F401  registers the "tiny" model
    from reportgen.techniques import feature_maps

    marker = os.environ.get("REPORTGEN_TEST_DIE_ONCE")
    if not marker:
        return
    compute = feature_maps.FeatureMaps.compute

    def die_once(self, params, model, requests, progress, context):
        for number, done in enumerate(compute(self, params, model, requests, progress, context)):
            if number == 1 and not Path(marker).exists():  # the first result is stored by now
                Path(marker).write_text(f"worker {os.getpid()} killed itself mid-build\n")
                os._exit(1)
            yield done

    feature_maps.FeatureMaps.compute = die_once
