"""Downloading torchvision weights through torch.hub, without the internet: a checkpoint served on
127.0.0.1 (plain HTTP, or HTTPS reached only through a loopback CONNECT proxy), corrupt files, and
hosts that refuse or never answer."""
from __future__ import annotations

import hashlib
import http.server
import io
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import torch
import torchvision
from click.testing import CliRunner

from helpers import fresh_urllib, write_inputs
from reportgen import models
from reportgen.interface.cli import main
from reportgen.models.weights import Checkpoint, WeightsError, fetch

MODEL = "squeezenet1_1"  # the smallest torchvision classifier: a 5 MB checkpoint


@pytest.fixture(scope="module")
def checkpoint_bytes() -> bytes:
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(torchvision.models.get_model(MODEL, weights=None).state_dict(), buffer)
    return buffer.getvalue()


def named(data: bytes) -> str:
    """A file name carrying the hash prefix of ``data``, as torchvision names its files."""
    return f"{MODEL}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


class Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):
        data = self.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve(files: dict[str, bytes], tls: ssl.SSLContext | None = None):
    handler = type("Handler", (Files,), {"files": files})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    fresh_urllib(monkeypatch)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_fetch_downloads_over_http_and_keeps_the_file(checkpoint_bytes, torch_home):
    name = named(checkpoint_bytes)
    server = serve({name: checkpoint_bytes})
    try:
        path = fetch(Checkpoint(MODEL, f"http://127.0.0.1:{server.server_port}/{name}"))
    finally:
        server.shutdown()
    assert path == torch_home / name and path.read_bytes() == checkpoint_bytes
    assert fetch(Checkpoint(MODEL, "http://127.0.0.1:9/" + name)) == path  # present: no network needed


def test_a_file_that_does_not_match_its_hash_is_refused_and_nothing_is_left(checkpoint_bytes, torch_home):
    name = named(checkpoint_bytes)
    server = serve({name: checkpoint_bytes[:-10] + b"0123456789"})
    try:
        with pytest.raises(WeightsError) as raised:
            fetch(Checkpoint(MODEL, f"http://127.0.0.1:{server.server_port}/{name}"))
    finally:
        server.shutdown()
    message = str(raised.value)
    assert "\n" not in message and "does not match the hash in its name" in message and name in message
    assert not torch_home.exists() or list(torch_home.iterdir()) == []  # no file, no .partial


def test_a_refused_connection_and_a_missing_file_name_the_file_and_folder(torch_home):
    with pytest.raises(WeightsError) as refused:
        fetch(Checkpoint(MODEL, f"http://127.0.0.1:9/{MODEL}-0123abcd.pth"))
    assert "Connection refused" in str(refused.value) and f"Place {MODEL}-0123abcd.pth in {torch_home}/" in str(refused.value)
    server = serve({})
    try:
        with pytest.raises(WeightsError, match="Not Found"):
            fetch(Checkpoint(MODEL, f"http://127.0.0.1:{server.server_port}/{MODEL}-0123abcd.pth"))
    finally:
        server.shutdown()
    assert not torch_home.exists() or list(torch_home.iterdir()) == []


def test_a_host_that_never_answers_fails_after_the_timeout(torch_home):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the connection, never sends a byte
    try:
        with pytest.raises(WeightsError, match="timed out"):
            fetch(Checkpoint(MODEL, f"http://127.0.0.1:{silent.getsockname()[1]}/{MODEL}-0123abcd.pth"), timeout_s=0.5)
    finally:
        silent.close()
    assert socket.getdefaulttimeout() is None  # restored


class ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTPS proxy (CONNECT) that reaches every host name at ``target_port`` on loopback, as a
    company proxy reaches hosts the machine itself cannot resolve."""

    daemon_threads = True

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.tunnels: list[str] = []
        super().__init__(("127.0.0.1", 0), self.Tunnel)

    class Tunnel(socketserver.BaseRequestHandler):
        def handle(self):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            self.server.tunnels.append(target)
            upstream = socket.create_connection(("127.0.0.1", self.server.target_port))
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = [self.request, upstream]
            try:
                while True:
                    ready, _, _ = select.select(ends, [], [], 5)
                    if not ready:
                        return
                    for end in ready:
                        data = end.recv(65536)
                        if not data:
                            return
                        (upstream if end is self.request else self.request).sendall(data)
            finally:
                upstream.close()


@pytest.fixture
def https_only_through_a_proxy(tmp_path, checkpoint_bytes, torch_home, monkeypatch):
    """The checkpoint at https://weights.invalid/NAME: a name no resolver knows (no direct route),
    served with a certificate the test trusts, reachable only through HTTPS_PROXY."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=weights.invalid", "-addext", "subjectAltName=DNS:weights.invalid"],
                   check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = serve({named(checkpoint_bytes): checkpoint_bytes}, tls)
    proxy = ConnectProxy(server.server_port)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield f"https://weights.invalid/{named(checkpoint_bytes)}", f"http://127.0.0.1:{proxy.server_address[1]}", proxy
    proxy.shutdown()
    server.shutdown()


def test_without_the_proxy_there_is_no_route(https_only_through_a_proxy):
    url, _, proxy = https_only_through_a_proxy
    with pytest.raises(WeightsError, match="not available offline"):
        fetch(Checkpoint(MODEL, url))
    assert proxy.tunnels == []


def test_a_build_downloads_through_https_proxy_and_proceeds(https_only_through_a_proxy, checkpoint_bytes,
                                                            torch_home, tmp_path, monkeypatch):
    url, proxy_url, proxy = https_only_through_a_proxy
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    fresh_urllib(monkeypatch)
    # the model's DEFAULT weights point at the test's host, for torchvision and for reportgen's catalogue
    monkeypatch.setattr(torchvision.models.get_model_weights(MODEL).DEFAULT.value, "url", url)
    catalogue = {**models.torchvision_catalogue(), MODEL: url}
    monkeypatch.setattr(models.catalogue, "torchvision_catalogue", lambda: catalogue)
    write_inputs(tmp_path / "inputs")
    result = CliRunner().invoke(main, ["build", str(tmp_path / "inputs"), "--models", MODEL, "--techniques", "filters",
                                       "--preset", "quick", "--device", "cpu", "--out", str(tmp_path / "site"),
                                       "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert proxy.tunnels == ["weights.invalid:443"]
    assert (torch_home / named(checkpoint_bytes)).read_bytes() == checkpoint_bytes
    manifest = (tmp_path / "site" / "manifest.json").read_text()
    assert named(checkpoint_bytes) in manifest  # the gallery names the file (and so its hash) it used


def test_weights_list_and_fetch_commands(checkpoint_bytes, torch_home, monkeypatch):
    name = named(checkpoint_bytes)
    server = serve({name: checkpoint_bytes})
    url = f"http://127.0.0.1:{server.server_port}/{name}"
    monkeypatch.setattr(models.catalogue, "torchvision_catalogue", lambda: {MODEL: url})
    runner = CliRunner()
    try:
        before = runner.invoke(main, ["weights", "list", f"{MODEL},efficientnet_lite0"])
        assert before.exit_code == 0 and before.stdout.splitlines() == [
            f"missing   {MODEL:20} {name}", "embedded  efficientnet_lite0"]
        fetched = runner.invoke(main, ["weights", "fetch", f"{MODEL},efficientnet_lite0"])
        assert fetched.exit_code == 0, fetched.output
        assert f"{MODEL}: downloaded {torch_home / name}" in fetched.stdout
        after = runner.invoke(main, ["weights", "list", MODEL])
        assert after.stdout.splitlines() == [f"present   {MODEL:20} {name}"]
        again = runner.invoke(main, ["weights", "fetch", MODEL])
        assert "already present" in again.stdout
    finally:
        server.shutdown()
    unknown = runner.invoke(main, ["weights", "fetch", "nosuchnet"])
    # the valid names, or where a long list of them is (models other tests registered count too)
    assert unknown.exit_code == 2 and "unknown model 'nosuchnet'; " in unknown.stderr
    assert "valid: efficientnet_lite0" in unknown.stderr or "`reportgen list models` lists all" in unknown.stderr


def test_weights_fetch_reports_each_failure_in_one_line(torch_home, monkeypatch):
    monkeypatch.setattr(models.catalogue, "torchvision_catalogue",
                        lambda: {MODEL: f"http://127.0.0.1:9/{MODEL}-0123abcd.pth"})
    result = CliRunner().invoke(main, ["weights", "fetch", MODEL])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {MODEL}: pretrained weights are not available offline (")


def place(torch_home: Path, name: str, data: bytes) -> Checkpoint:
    """A checkpoint already in $TORCH_HOME/hub/checkpoints, whose URL no network reaches."""
    torch_home.mkdir(parents=True, exist_ok=True)
    (torch_home / name).write_bytes(data)
    return Checkpoint(MODEL, f"http://127.0.0.1:9/{name}")


def test_a_present_file_is_checked_against_the_hash_in_its_name(checkpoint_bytes, torch_home):
    good = place(torch_home, named(checkpoint_bytes), checkpoint_bytes)
    assert fetch(good) == good.path
    wrong = place(torch_home, f"{MODEL}-0123abcd.pth", checkpoint_bytes)
    with pytest.raises(WeightsError) as raised:
        fetch(wrong)
    message = str(raised.value)
    assert "\n" not in message and str(wrong.path) in message and "0123abcd" in message and "delete it" in message
    assert wrong.path.read_bytes() == checkpoint_bytes  # reported, not deleted


def test_a_file_is_hashed_once_until_it_changes(checkpoint_bytes, torch_home, monkeypatch):
    import os

    from reportgen.core import digests

    hashed = []
    monkeypatch.setattr(digests, "file_sha256", lambda path: hashed.append(path) or hashlib.sha256(path.read_bytes()).hexdigest())
    checkpoint = place(torch_home, named(checkpoint_bytes), checkpoint_bytes)
    fetch(checkpoint)
    fetch(checkpoint)
    assert hashed == [checkpoint.path]
    checkpoint.path.write_bytes(checkpoint_bytes[:-1] + b"x")  # replaced in place, even with the old time
    stat = checkpoint.path.stat()
    os.utime(checkpoint.path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    with pytest.raises(WeightsError, match="does not match the sha256 prefix"):
        fetch(checkpoint)
    assert len(hashed) == 2


class Planted:
    """Unpickling this touches a file: proof that the checkpoint's pickle ran."""

    def __init__(self, proof: Path):
        self.proof = proof

    def __reduce__(self):
        return Path.touch, (self.proof,)


def test_a_checkpoint_that_pickles_code_is_refused_unrun(torch_home, tmp_path):
    from reportgen.models.weights import read_state

    proof = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2), "payload": Planted(proof)}, buffer)
    data = buffer.getvalue()
    checkpoint = place(torch_home, named(data), data)  # the hash in its name matches
    with pytest.raises(WeightsError) as raised:
        read_state(checkpoint)
    message = str(raised.value)
    assert "\n" not in message and str(checkpoint.path) in message and "refused" in message
    assert not proof.exists()


def test_pretrained_torchvision_builds_through_the_checked_weights_only_read(checkpoint_bytes, torch_home,
                                                                            monkeypatch):
    from reportgen.models.weights import pretrained_torchvision

    checkpoint = place(torch_home, named(checkpoint_bytes), checkpoint_bytes)
    monkeypatch.setattr(torchvision.models.get_model_weights(MODEL).DEFAULT.value, "url", checkpoint.url)
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: reads.append(kwargs.get("weights_only")) or
                        real_load(*args, **kwargs))
    net = pretrained_torchvision(MODEL)
    expected = torch.load(io.BytesIO(checkpoint_bytes), weights_only=True)
    assert all(torch.equal(net.state_dict()[name], tensor) for name, tensor in expected.items())
    assert reads and all(reads)  # every read of the file (no download: the URL is unreachable)


def test_a_build_with_a_mismatched_checkpoint_stops_in_one_line(checkpoint_bytes, torch_home, tmp_path, monkeypatch):
    checkpoint = place(torch_home, f"{MODEL}-0123abcd.pth", checkpoint_bytes)
    monkeypatch.setattr(models.catalogue, "torchvision_catalogue", lambda: {MODEL: checkpoint.url})
    monkeypatch.setattr(torchvision.models.get_model_weights(MODEL).DEFAULT.value, "url", checkpoint.url)
    write_inputs(tmp_path / "inputs")
    result = CliRunner().invoke(main, ["build", str(tmp_path / "inputs"), "--models", MODEL, "--techniques", "filters",
                                       "--preset", "quick", "--device", "cpu", "--out", str(tmp_path / "site"),
                                       "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert str(checkpoint.path) in line and "does not match the sha256 prefix" in line
    assert not (tmp_path / "site").exists()


def test_a_matching_file_that_is_no_checkpoint_or_the_wrong_one_names_the_file(torch_home, monkeypatch):
    from reportgen.models.card import ModelError
    from reportgen.models.weights import pretrained_torchvision, read_state

    garbage = b"this is not a checkpoint"
    checkpoint = place(torch_home, named(garbage), garbage)
    with pytest.raises(WeightsError, match=f"{checkpoint.path} cannot be read"):
        read_state(checkpoint)
    buffer = io.BytesIO()
    torch.save({"features.0.weight": torch.zeros(1)}, buffer)
    other = place(torch_home, named(buffer.getvalue()), buffer.getvalue())
    monkeypatch.setattr(torchvision.models.get_model_weights(MODEL).DEFAULT.value, "url", other.url)
    with pytest.raises(ModelError, match=f"cannot load {MODEL} weights from {other.path}"):
        pretrained_torchvision(MODEL)
