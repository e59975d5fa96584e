import io

from reportgen.core.progress import Progress, Silent


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_off_a_terminal_with_the_time_left():
    stream = io.StringIO()
    progress = Progress(stream, every_s=0.0)
    progress.step("saliency on tiny: 3 to compute")
    progress.tick(1, 3)
    progress.message("skipped: broken.png: not an image")
    progress.tick(3, 3)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "saliency on tiny: 3 to compute"
    assert lines[1].startswith("saliency on tiny: 3 to compute: 1/3, about ") and lines[1].endswith("left")
    assert lines[2:] == ["skipped: broken.png: not an image", "saliency on tiny: 3 to compute: 3/3"]
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_a_bar_no_wider_than_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    stream = Terminal()
    progress = Progress(stream)
    assert progress.interactive
    progress.step("class_ascent on efficientnet_lite2: 18 to compute")
    for done in range(1, 19):
        progress.tick(done, 18)
    progress.message("a line above the bar")
    progress.close()
    output = stream.getvalue()
    assert "18/18" in output and "a line above the bar\n" in output
    redraws = [part.rstrip("\n") for part in output.replace("\x1b[A", "").split("\r") if "/18" in part]
    assert redraws and max(len(part) for part in redraws) <= 60


def test_silent_shows_nothing(capsys):
    progress = Silent()
    progress.every_s = 0.0  # where a plain Progress would write a line for every call
    progress.step("x")
    progress.tick(1, 2)
    progress.message("y")
    progress.close()
    assert capsys.readouterr() == ("", "")


def test_a_notebook_gets_tqdm_autos_bar_and_silent_stays_silent(monkeypatch, capsys):
    from tqdm.auto import tqdm

    from reportgen.core import progress as module

    monkeypatch.setattr(module, "in_notebook", lambda: True)
    progress = Progress()
    assert progress.notebook and progress.interactive
    progress.step("feature_maps on tiny: 2 to compute")
    assert isinstance(progress._bar, tqdm)
    progress.tick(2, 2)
    progress.close()
    assert "feature_maps on tiny" in capsys.readouterr().err  # tqdm.auto without a widget library: the text bar
    quiet = Silent()
    quiet.step("nothing")
    assert not quiet.notebook and quiet._bar is None
    monkeypatch.undo()
    assert not module.in_notebook()  # pytest is no Jupyter kernel


def test_a_step_over_images_shows_images_per_second_and_the_time_left(monkeypatch):
    stream = io.StringIO()
    progress = Progress(stream, every_s=0.0)
    progress.step("saliency on tiny: 40 to compute", images=20)  # two requests an image
    progress.tick(10, 40)
    progress.close()
    line = stream.getvalue().splitlines()[1]
    assert line.startswith("saliency on tiny: 40 to compute: 10/40, ") and " images/s, about " in line


def test_the_bar_with_a_rate_still_fits_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    stream = Terminal()
    progress = Progress(stream)
    progress.step("feature_maps on efficientnet_lite2: 18 to compute", images=18)
    for done in range(1, 19):
        progress.tick(done, 18)
    progress.close()
    redraws = [part.rstrip("\n") for part in stream.getvalue().replace("\x1b[A", "").split("\r") if "/18" in part]
    assert "images/s" in redraws[-1] and max(len(part) for part in redraws) <= 60
