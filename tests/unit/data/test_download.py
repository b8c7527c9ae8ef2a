"""The downloader against a local HTTP server: resume after a cut, checksum, offline."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedhealth.cli import data_cmd
from fedhealth.data import download as dl
from fedhealth.errors import ConfigError, DataError

ZIP_PATH = "/static/published-projects/mimiciii-demo/mimic-iii-clinical-database-demo-1.4.zip"


def _archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimic-iii-clinical-database-demo-1.4/PATIENTS.csv",
                    "row_id,subject_id,gender,dob,dod,dod_hosp,dod_ssn,expire_flag\n" * 2000)
        zf.writestr("mimic-iii-clinical-database-demo-1.4/LICENSE.txt", "fixture\n")
    return buf.getvalue()


class Server:
    """Serves `body` at ZIP_PATH with Range support; `cut_next` truncates responses."""

    def __init__(self, body: bytes) -> None:
        self.body, self.cut_next, self.ranges = body, 0, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != ZIP_PATH:
                    self.send_error(404)
                    return
                start = 0
                header = self.headers.get("Range")
                owner.ranges.append(header)
                if header:
                    start = int(header.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(owner.body) - 1}/{len(owner.body)}")
                else:
                    self.send_response(200)
                rest = owner.body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if owner.cut_next:
                    owner.cut_next -= 1
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(rest)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(_archive())
    yield s
    s.close()


def _pin(monkeypatch: pytest.MonkeyPatch, digest: str | None) -> None:
    art = dl.MANIFEST["mimic3-demo"].artifacts[0]
    entry = dl.MANIFEST["mimic3-demo"]
    monkeypatch.setitem(dl.MANIFEST, "mimic3-demo", dl.Entry(
        entry.title, entry.folder, (dl.Artifact(art.url, digest),), loader=entry.loader))


def test_download_verifies_and_extracts(server: Server, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _pin(monkeypatch, hashlib.sha256(server.body).hexdigest())
    monkeypatch.setenv(dl.MIRROR_ENV, server.url)
    folder = dl.download("mimic3-demo", tmp_path, progress=False)
    assert folder == tmp_path / "mimic-iii-clinical-database-demo-1.4"
    assert (folder / "PATIENTS.csv").read_text().startswith("row_id,subject_id")
    assert not list(tmp_path.glob(".*.extracting"))  # no temp folder left
    assert dl.download("mimic3-demo", tmp_path, progress=False) == folder  # idempotent


def test_resume_after_a_cut_within_one_call(server: Server, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _pin(monkeypatch, hashlib.sha256(server.body).hexdigest())
    server.cut_next = 1
    dl.download("mimic3-demo", tmp_path, mirror=server.url, progress=False)
    half = len(server.body) // 2
    assert server.ranges == [None, f"bytes={half}-"]


def test_resume_across_calls(server: Server, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    _pin(monkeypatch, hashlib.sha256(server.body).hexdigest())
    server.cut_next = 1
    with pytest.raises(DataError, match="was cut at .* run the same command again"):
        dl.download("mimic3-demo", tmp_path, mirror=server.url, progress=False, retries=1)
    part = tmp_path / ".downloads" / "mimic-iii-clinical-database-demo-1.4.zip.part"
    assert part.stat().st_size == len(server.body) // 2
    assert not (tmp_path / "mimic-iii-clinical-database-demo-1.4").exists()
    dl.download("mimic3-demo", tmp_path, mirror=server.url, progress=False)
    assert server.ranges[-1] == f"bytes={len(server.body) // 2}-"
    assert (tmp_path / "mimic-iii-clinical-database-demo-1.4" / "LICENSE.txt").is_file()


def test_checksum_mismatch_deletes_the_file(server: Server, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _pin(monkeypatch, "0" * 64)
    with pytest.raises(DataError, match="does not match the published"):
        dl.download("mimic3-demo", tmp_path, mirror=server.url, progress=False)
    assert not list((tmp_path / ".downloads").iterdir())
    assert not (tmp_path / "mimic-iii-clinical-database-demo-1.4").exists()


def test_unknown_checksum_is_reported(server: Server, tmp_path: Path) -> None:
    lines: list[str] = []
    dl.download("mimic3-demo", tmp_path, mirror=server.url, progress=False, log=lines.append)
    assert lines == [f"mimic-iii-clinical-database-demo-1.4.zip: no published SHA-256 "
                     f"recorded; computed {hashlib.sha256(server.body).hexdigest()}"]


def test_offline_gives_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError) as err:
        dl.download("mimic3-demo", tmp_path, mirror=f"http://127.0.0.1:{port}", progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "offline" in msg and f"127.0.0.1:{port}" in msg


def test_unsafe_archive_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(DataError, match="unsafe path"):
        dl.extract(bad, tmp_path, "x")
    assert not (tmp_path.parent / "escape.txt").exists()
    assert not list(tmp_path.glob(".*.extracting"))


def test_credentialed_sets_say_where_to_apply(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="physionet.org/content/mimiciii"):
        dl.download("mimic3", tmp_path)
    parser = argparse.ArgumentParser()
    data_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "download", "chexpert", "--to", str(tmp_path)])
    assert args.handler(args) == 1
    out = capsys.readouterr().out
    assert "stanfordmlgroup" in out and str(tmp_path / "CheXpert-v1.0-small") in out


def test_cli_download_and_check(server: Server, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    data_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "download", "mimic3-demo", "--to", str(tmp_path),
                              "--mirror", server.url, "--no-progress"])
    assert args.handler(args) == 0
    folder = tmp_path / "mimic-iii-clinical-database-demo-1.4"
    args = parser.parse_args(["data", "check", "mimic3-demo", "--data-dir", str(folder)])
    assert args.handler(args) == 3  # the fixture archive holds only PATIENTS.csv
    assert f"{folder / 'ADMISSIONS.csv'}: missing file" in capsys.readouterr().out
