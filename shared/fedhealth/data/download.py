"""`fedhealth data download NAME --to DIR`: fetch an open-access data set, safely.

Each file is streamed to `DIR/.downloads/NAME.part` with a progress bar; an interrupted
download resumes from the bytes already there (HTTP Range), within one call (a few
retries) and across calls. The finished file is checked against its published SHA-256
(a mismatch deletes it and fails); where no checksum is recorded the computed one is
reported so it can be added to `MANIFEST`. Archives are extracted into a temporary
folder beside the target and renamed into place, so no half-extracted folder is ever
left. `FEDHEALTH_DATA_MIRROR` (or `mirror=`) replaces the scheme and host of every URL,
e.g. for a hospital's internal mirror or a test server.

Credentialed sets (full MIMIC-III, CheXpert) cannot be fetched: `credentialed_message`
says where to apply and where to put the files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fedhealth.errors import ConfigError, DataError

MIRROR_ENV = "FEDHEALTH_DATA_MIRROR"
CHUNK = 1 << 16
RETRIES = 3
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Artifact:
    """One file to fetch; `sha256` None where no published checksum is known."""

    url: str
    sha256: str | None = None
    extract: bool = True

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name


@dataclass(frozen=True)
class Entry:
    """A data set: where its files come from and the folder they make under `--to`."""

    title: str
    folder: str
    artifacts: tuple[Artifact, ...] = ()
    apply_at: str = ""  # credentialed: where to request access
    loader: str = ""


_PHYSIONET = "https://physionet.org/static/published-projects"
_ISIC = "https://isic-challenge-data.s3.amazonaws.com/2019"
# URLs follow each project's published download links. No checksums are filled in:
# PhysioNet publishes SHA256SUMS.txt for the files *inside* each project, not for the
# zip, and ISIC publishes none; fill them in here after a first verified download.
MANIFEST: dict[str, Entry] = {
    "mimic3-demo": Entry(
        "MIMIC-III Clinical Database Demo v1.4 (ODbL)", "mimic-iii-clinical-database-demo-1.4",
        (Artifact(f"{_PHYSIONET}/mimiciii-demo/mimic-iii-clinical-database-demo-1.4.zip"),),
        loader="mimic3"),
    "isic2019": Entry(
        "ISIC 2019 training set (CC BY-NC 4.0)", "isic2019",
        (Artifact(f"{_ISIC}/ISIC_2019_Training_Input.zip"),
         Artifact(f"{_ISIC}/ISIC_2019_Training_GroundTruth.csv", extract=False),
         Artifact(f"{_ISIC}/ISIC_2019_Training_Metadata.csv", extract=False)),
        loader="isic2019"),
    "ptb-ecg": Entry(
        "PTB Diagnostic ECG Database 1.0.0 (ODC-By)", "ptb-diagnostic-ecg-database-1.0.0",
        (Artifact(f"{_PHYSIONET}/ptbdb/ptb-diagnostic-ecg-database-1.0.0.zip"),),
        loader="ptb-ecg"),
    "ptbxl": Entry(
        "PTB-XL 1.0.3 (CC BY 4.0)",
        "ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.3",
        (Artifact(f"{_PHYSIONET}/ptb-xl/ptb-xl-a-large-publicly-available-"
                  "electrocardiography-dataset-1.0.3.zip"),),
        loader="ptbxl"),
    "physionet2019": Entry(
        "PhysioNet/CinC Challenge 2019 sepsis training sets (CC BY 4.0)",
        "challenge-2019-1.0.0",
        (Artifact(f"{_PHYSIONET}/challenge-2019/early-prediction-of-sepsis-from-clinical-data-"
                  "the-physionet-computing-in-cardiology-challenge-2019-1.0.0.zip"),),
        loader="physionet2019"),
    "mimic3": Entry(
        "MIMIC-III Clinical Database 1.4 (credentialed)", "mimic-iii-clinical-database-1.4",
        apply_at="https://physionet.org/content/mimiciii/1.4/ (PhysioNet credentialing, "
                 "CITI data-research training, signed data use agreement)",
        loader="mimic3"),
    "chexpert": Entry(
        "CheXpert-v1.0-small (Stanford research use agreement)", "CheXpert-v1.0-small",
        apply_at="https://stanfordmlgroup.github.io/competitions/chexpert/ (register and "
                 "accept the Stanford University School of Medicine research use agreement)",
        loader="chexpert"),
}


def entry(name: str) -> Entry:
    if name not in MANIFEST:
        raise ConfigError(f"unknown data set {name!r}; known: {', '.join(sorted(MANIFEST))}")
    return MANIFEST[name]


def credentialed_message(name: str, to: Path) -> str:
    """Where to apply for a credentialed set and where to place its files."""
    e = entry(name)
    return (f"{e.title} needs credentialed access and cannot be downloaded by fedhealth. "
            f"Apply at {e.apply_at}; then download it yourself and place the files in "
            f"{Path(to) / e.folder} (check with: fedhealth data check {name} "
            f"--data-dir {Path(to) / e.folder})")


def resolve_url(url: str, mirror: str | None = None) -> str:
    """`url` with its scheme and host replaced by the mirror's, when one is set."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    if not mirror:
        return url
    return mirror.rstrip("/") + urllib.parse.urlparse(url).path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _offline(url: str, err: BaseException) -> DataError:
    host = urllib.parse.urlparse(url).netloc
    reason = getattr(err, "reason", err)
    return DataError(f"cannot reach {host} ({reason}): this machine looks offline; download "
                     f"{url} elsewhere and copy it here, or set {MIRROR_ENV} to a reachable mirror")


def fetch(url: str, dest: Path, progress: bool = True, retries: int = RETRIES) -> Path:
    """Download `url` to `dest`, resuming from `dest.part`; return `dest`."""
    from tqdm import tqdm

    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # nothing left to send: the part is whole
                break
            raise DataError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as err:
            raise _offline(url, err) from None
        with response:
            resumed = response.status == 206
            if not resumed:
                have = 0  # the server ignored the Range: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            mode = "ab" if resumed else "wb"
            with open(part, mode) as fh, tqdm(total=total, initial=have, unit="B",
                                              unit_scale=True, desc=dest.name,
                                              disable=not progress, leave=False) as bar:
                try:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        fh.write(block)
                        bar.update(len(block))
                except (ConnectionError, socket.timeout, OSError):
                    pass  # a cut connection: the size check below decides
        got = part.stat().st_size
        if total is None or got >= total:
            break
        if attempt == retries - 1:
            raise DataError(f"download of {url} was cut at {got} of {total} bytes; run the "
                            f"same command again to resume from {part}")
    os.replace(part, dest)
    return dest


def _safe_members(archive: Path, names: list[str]) -> None:
    for name in names:
        p = Path(name)
        if p.is_absolute() or ".." in p.parts:
            raise DataError(f"archive {archive} holds an unsafe path {name!r}; not extracting")


def extract(archive: Path, to: Path, folder: str) -> Path:
    """Extract `archive` into `to/<its single top folder, or folder>` atomically."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".extracting", dir=to))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _safe_members(archive, zf.namelist())
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _safe_members(archive, tf.getnames())
                tf.extractall(tmp, filter="data")
        else:
            raise DataError(f"{archive} is neither a zip nor a tar archive")
        top = [p for p in tmp.iterdir() if not p.name.startswith("__MACOSX")]
        source = top[0] if len(top) == 1 and top[0].is_dir() else tmp
        target = to / (source.name if source is not tmp else folder)
        if target.exists():
            raise DataError(f"{target} already exists; remove it to extract again")
        os.replace(source, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download(name: str, to: Path, mirror: str | None = None, progress: bool = True,
             retries: int = RETRIES, log: Callable[[str], None] = print) -> Path:
    """Fetch, verify and extract data set `name` under `to`; return its folder."""
    e = entry(name)
    if e.apply_at:
        raise ConfigError(credentialed_message(name, to))
    to = Path(to)
    # one archive: it carries its own top folder; several files: they share e.folder
    base = to if len(e.artifacts) == 1 else to / e.folder
    base.mkdir(parents=True, exist_ok=True)
    result = to / e.folder
    for art in e.artifacts:
        url = resolve_url(art.url, mirror)
        dest = to / ".downloads" / art.filename
        if not dest.exists():
            fetch(url, dest, progress, retries)
        digest = sha256_of(dest)
        if art.sha256 and digest != art.sha256.lower():
            dest.unlink()
            raise DataError(f"{art.filename}: SHA-256 {digest} does not match the published "
                            f"{art.sha256}; the file was deleted, run again to re-download")
        if not art.sha256:
            log(f"{art.filename}: no published SHA-256 recorded; computed {digest}")
        if art.extract:
            marker = to / ".downloads" / (art.filename + ".extracted")
            if marker.exists() and Path(marker.read_text().strip()).exists():
                result = Path(marker.read_text().strip())
                continue
            result = extract(dest, base, e.folder)
            marker.write_text(str(result))
        else:
            shutil.copyfile(dest, base / (art.filename + ".tmp"))
            os.replace(base / (art.filename + ".tmp"), base / art.filename)
    return result if len(e.artifacts) == 1 else base
