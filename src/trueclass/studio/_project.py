"""A studio project: an ordinary folder of class subfolders with a manifest.

    PROJECT/
      trueclass-project.json   classes, and for each image its file, class and capture session
      <class>/<session>-NNN.png the images, as the browser sent them (checked to be images)
      .trueclass/runs/...       the studio's training runs (hidden: not a class)
      .trueclass/trash/...      deleted classes, kept rather than destroyed

Every write is atomic (a temporary file, then ``os.replace``): an image lands before the
manifest names it, and opening a project adopts any image a crash left unnamed, so a
restart or a crash loses nothing. ``trueclass train PROJECT`` reads the manifest
(``data._sources._load_project``) and splits whole capture sessions.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from .._errors import TrueclassError
from ..data import DEFAULT_MAX_PIXELS, PROJECT_FILE, file_hashes, read_project_manifest

__all__ = ["Project", "ImageRefused", "MAX_FILE_BYTES", "MAX_PROJECT_BYTES", "check_class_name"]

#: One image file may be at most this large ...
MAX_FILE_BYTES = 20 * 1024**2
#: ... and a project at most this large in all.
MAX_PROJECT_BYTES = 2 * 1024**3
#: Image formats the studio keeps (what browsers and cameras make), by Pillow's name.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif"}
STATE = ".trueclass"
#: What a deleted class's folder in the trash keeps of the manifest (Project.restore_class).
DELETED_FILE = "deleted-class.json"
NAME_MAX = 40
_NAME = re.compile(r"^[^\W_][\w \-]*$")


class ImageRefused(TrueclassError):
    """An upload that is not a usable image (the message says why)."""


def check_class_name(name: Any) -> str:
    """A class name that is also a safe folder name, or a sentence saying why not."""
    if not isinstance(name, str):
        raise TrueclassError("A class name must be text.")
    name = unicodedata.normalize("NFC", name.strip())
    if not name or len(name) > NAME_MAX or not _NAME.match(name):
        raise TrueclassError(f"A class name is 1 to {NAME_MAX} letters, digits, spaces, - or _, starting with a "
                             f"letter or digit; {name[:60]!r} is not.")
    return name


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it is either all there or not there at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{secrets.token_hex(6)}-{path.name}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def megabytes(size: int, limit: int) -> tuple[str, str]:
    """A file's size and a limit in MB, with as many decimals as tell them apart (a file of
    21,000,000 bytes was "20 MB; an image may be at most 20 MB"); the page does the same."""
    for digits in range(4):
        a, b = f"{size / 1024**2:.{digits}f} MB", f"{limit / 1024**2:.{digits}f} MB"
        if a != b:
            return a, b
    return f"{size:,} bytes", f"{limit:,} bytes"  # within a few hundred bytes of it


def check_image(data: bytes, name: str = "the file", *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, tuple[int, int]]:
    """(extension, (width, height)) of an image file's bytes; ImageRefused with a sentence
    for anything else: too large, not an image, cut off, a decompression bomb."""
    import warnings

    from PIL import Image

    if len(data) > MAX_FILE_BYTES:
        size, most = megabytes(len(data), MAX_FILE_BYTES)
        raise ImageRefused(f"{name} is {size}; an image may be at most {most}.")
    if not data:
        raise ImageRefused(f"{name} is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageRefused(f"{name} claims {w}x{h} pixels, more than the {max_pixels:,} allowed "
                                       "(a decompression bomb, or a photo far larger than needed).")
                fmt = im.format
                im.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"{name} claims more pixels than allowed (a decompression bomb).") from None
    except Image.UnidentifiedImageError:
        raise ImageRefused(f"{name} is not an image (PNG, JPEG, WebP, BMP or GIF).") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageRefused(f"{name} is a damaged or cut-off image ({e}).") from None
    if fmt not in FORMATS:
        raise ImageRefused(f"{name} is a {fmt} image; the studio keeps PNG, JPEG, WebP, BMP and GIF.")
    return FORMATS[fmt], (w, h)


def _free_path(path: Path, taken: Any = None) -> Path:
    """``path``, or ``stem-1.ext``, ``stem-2.ext``, ... beside it: the first that is neither
    on disk nor ``taken`` (a predicate on a path), so nothing is written over."""
    out, k = path, 1
    while out.exists() or (taken is not None and taken(out)):
        out, k = path.with_name(f"{path.stem}-{k}{path.suffix}"), k + 1
    return out


def _record_of(trashed: Path) -> Path:
    """Where a removed image's manifest entry waits beside it in the trash."""
    return trashed.with_name(trashed.name + ".entry.json")


def _deleted(f: Path) -> dict[str, Any]:
    """What a deleted class's file says (Project.delete_class), or a sentence when it is damaged."""
    try:
        d = json.loads(f.read_text(encoding="utf-8"))
        d["class"], d["deleted"] = str(d["class"]), str(d["deleted"])
        if not isinstance(d["images"], list) or not all(isinstance(e, dict) and "file" in e for e in d["images"]):
            raise TypeError
        return d
    except (OSError, ValueError, KeyError, TypeError):
        raise TrueclassError("That deleted class's record in the trash is damaged; its images are in "
                             f"{str(f.parent)!r}.") from None


class Project:
    """One project folder; every method is safe to call from several threads."""

    def __init__(self, root: str | Path, *, create: bool = True):
        self.root = Path(root).expanduser().resolve()
        self._lock = threading.RLock()
        self._digest_cache: dict[tuple[str, int, int], str] = {}  # _file_digests
        if (self.root / PROJECT_FILE).is_file():
            m = read_project_manifest(self.root)
            self._classes: list[str] = m["classes"]
            self._images: list[dict[str, Any]] = m["images"]
        elif not create:
            raise TrueclassError(f"{str(self.root)!r} is not a studio project (no {PROJECT_FILE}).")
        elif self.root.exists() and any(p for p in self.root.iterdir() if not p.name.startswith(".")):
            raise TrueclassError(f"{str(self.root)!r} already holds files and is not a studio project; give the studio "
                                 "an empty or new folder.")
        else:
            self._classes, self._images = [], []
            self.root.mkdir(parents=True, exist_ok=True)
            self._save()
        self.recovered = self._recover()

    # -- state on disk -----------------------------------------------------------------
    def _save(self) -> None:
        data = {"format": "trueclass-project", "version": 1, "classes": self._classes, "images": self._images}
        atomic_write(self.root / PROJECT_FILE, json.dumps(data, indent=1).encode())

    def _recover(self) -> dict[str, int]:
        """Adopt images a crash left out of the manifest, forget entries whose file is gone,
        remove half-written temporary files."""
        with self._lock:
            for j in sorted(self.root.glob(f"*/{DELETED_FILE}")):
                if j.parent.name in self._classes:  # a delete that stopped before its folder moved
                    j.unlink(missing_ok=True)
                else:  # a restore that stopped after its folder came back
                    try:
                        self._take_back(self._check_new(j.parent.name), _deleted(j))
                    except TrueclassError:
                        continue  # not ours to adopt: left as it is
            named = {e["file"] for e in self._images}
            adopted = removed = 0
            for c in self._classes:
                folder = self.root / c
                if not folder.is_dir():
                    continue
                for f in sorted(folder.iterdir()):
                    rel = f"{c}/{f.name}"
                    if f.name.startswith(".tmp-"):
                        f.unlink(missing_ok=True)
                    elif f.is_file() and rel not in named and f.suffix.lower() in FORMATS.values():
                        self._images.append({"file": rel, "class": c, "session": "recovered", "bytes": f.stat().st_size})
                        adopted += 1
            kept = [e for e in self._images if (self.root / e["file"]).is_file()]
            removed = len(self._images) - len(kept)
            self._images = kept
            if adopted or removed:
                self._save()
            return {"adopted": adopted, "forgotten": removed}

    @property
    def state_dir(self) -> Path:
        return self.root / STATE

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    # -- reading ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        with self._lock:
            out = []
            for c in self._classes:
                mine = [e for e in self._images if e["class"] == c]
                out.append({"name": c, "count": len(mine), "sessions": len({e["session"] for e in mine}),
                            "files": [e["file"] for e in mine[-60:]]})
            return {"root": str(self.root), "classes": out, "n_images": len(self._images),
                    "bytes": sum(int(e.get("bytes", 0)) for e in self._images)}

    def class_names(self) -> list[str]:
        with self._lock:
            return list(self._classes)

    def image_files(self) -> set[str]:
        """The files the manifest names (to keep only the thumbnails still there: one read
        for a whole result, at every poll of the page)."""
        with self._lock:
            return {e["file"] for e in self._images}

    def sample_files(self, k: int = 50) -> list[Path]:
        """The files of the project's ``k`` most recent images."""
        with self._lock:
            return [self.root / e["file"] for e in self._images[-k:]]

    def image_file(self, rel: str) -> Path:
        """The file of one image the manifest names; nothing else can be read."""
        with self._lock:
            return self.root / self._entry(rel, "No such image in this project.")["file"]

    # -- classes -----------------------------------------------------------------------------
    def _find(self, name: str) -> str:
        for c in self._classes:
            if c == name:
                return c
        raise TrueclassError(f"There is no class {name!r} in this project.")

    def _check_new(self, name: str) -> str:
        name = check_class_name(name)
        same = [c for c in self._classes if c.casefold() == name.casefold()]
        if same:  # names differing in case only would be one folder on some disks
            raise TrueclassError(f"There is already a class {same[0]!r}." if same[0] == name else
                                 f"There is already a class {same[0]!r}; names that differ only in capitals "
                                 "count as one.")
        return name

    def add_class(self, name: str) -> str:
        with self._lock:
            name = self._check_new(name)
            (self.root / name).mkdir(exist_ok=True)
            self._classes.append(name)
            self._save()
            return name

    def rename_class(self, old: str, new: str) -> str:
        with self._lock:
            old = self._find(old)
            if check_class_name(new).casefold() == old.casefold() and new != old:
                new = check_class_name(new)
            else:
                new = self._check_new(new)
            # the manifest names the new folder only once the folder is there; a crash in
            # between leaves the old manifest and the moved images, which _recover adopts
            os.replace(self.root / old, self.root / new) if (self.root / old).exists() else (self.root / new).mkdir()
            self._classes[self._classes.index(old)] = new
            for e in self._images:
                if e["class"] == old:
                    e["class"] = new
                    e["file"] = f"{new}/{e['file'].split('/', 1)[1]}"
            self._save()
            return new

    def delete_class(self, name: str) -> dict[str, Any]:
        """Remove a class from the project; its images move to .trueclass/trash, not away,
        with what the manifest said of them (capture sessions, the class's place) in a file
        that travels with the folder, so restore_class can bring it back as it was.

        The file first, then the folder moves, then the manifest forgets the class: a crash
        at any point leaves every image either in the project's folder or in the trash with
        that file (_recover finishes or undoes what it finds half-done)."""
        with self._lock:
            name = self._find(name)
            mine = [e for e in self._images if e["class"] == name]
            stamp = time.strftime("%Y%m%d-%H%M%S")
            trash = _free_path(self.state_dir / "trash" / f"{name}-{stamp}")
            (self.root / name).mkdir(exist_ok=True)
            atomic_write(self.root / name / DELETED_FILE, json.dumps(
                {"class": name, "position": self._classes.index(name), "deleted": stamp, "images": mine},
                indent=1).encode())
            trash.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.root / name), str(trash))
            self._classes.remove(name)
            self._images = [e for e in self._images if e["class"] != name]
            self._save()
            return {"deleted": name, "images": len(mine), "kept_in": str(trash)}

    def deleted_classes(self) -> list[dict[str, Any]]:
        """The classes in the trash that restore_class can bring back, the latest first."""
        out = []
        trash = self.state_dir / "trash"
        for f in trash.glob(f"*/{DELETED_FILE}") if trash.is_dir() else []:
            try:
                d = _deleted(f)
                out.append({"id": f.parent.name, "name": d["class"], "images": len(d["images"]),
                            "deleted": d["deleted"]})
            except TrueclassError:
                continue  # damaged: left where it is
        return sorted(out, key=lambda c: (c["deleted"], c["id"]), reverse=True)

    def restore_class(self, trash_id: str) -> dict[str, Any]:
        """Bring a deleted class back from the trash: its images with their capture sessions,
        in its old place among the classes. Refused (nothing moved) when a class of that name
        exists again.

        The folder comes back first (its file with it), then the manifest names the class,
        then the file goes: a crash in between leaves a folder that _recover adopts as the
        class it was."""
        with self._lock:
            if str(trash_id) not in {c["id"] for c in self.deleted_classes()}:  # nothing but the trash's own
                raise TrueclassError("That deleted class is no longer in the trash.")
            folder = self.state_dir / "trash" / str(trash_id)
            d = _deleted(folder / DELETED_FILE)
            name = d["class"]
            if any(c.casefold() == name.casefold() for c in self._classes):
                raise TrueclassError(f"There is a class {name!r} again; rename it first, then restore the deleted one.")
            name = self._check_new(name)
            if (self.root / name).exists():
                raise TrueclassError(f"A folder {name!r} is in the project's folder; move it away, then restore.")
            os.replace(folder, self.root / name)
            try:
                back = self._take_back(name, d)
            except BaseException:
                os.replace(self.root / name, folder)  # the manifest was not written: the trash keeps it
                raise
            return {"restored": name, "images": len(back)}

    def _take_back(self, name: str, d: dict[str, Any]) -> list[dict[str, Any]]:
        """The manifest names a class whose folder (with its deleted-class file) is back in the
        project, with the entries whose files are there; then the file goes."""
        back = [e for e in d["images"] if (self.root / e["file"]).is_file()]
        classes, images = list(self._classes), list(self._images)
        self._classes.insert(min(int(d.get("position", len(self._classes))), len(self._classes)), name)
        self._images.extend(back)
        try:
            self._save()
        except BaseException:
            self._classes, self._images = classes, images
            raise
        (self.root / name / DELETED_FILE).unlink(missing_ok=True)
        return back

    # -- images --------------------------------------------------------------------------------
    def _entry(self, rel: str, missing: str = "That image is no longer in this project (moved or removed already?)."
               ) -> dict[str, Any]:
        """The manifest's entry of the image ``rel``, or the sentence ``missing``."""
        for e in self._images:
            if e["file"] == rel:
                return e
        raise TrueclassError(missing)

    def _free_file(self, cls: str, name: str) -> Path:
        """Where an image called ``name`` can go under ``cls``: a name neither on disk nor in
        the manifest (``stem-1.ext``, ... when it is taken)."""
        taken = {x["file"] for x in self._images}
        return _free_path(self.root / cls / name, taken=lambda p: f"{cls}/{p.name}" in taken)

    def move_image(self, rel: str, to: str) -> dict[str, Any]:
        """File one image under another class (a label the audit doubts, put right). It keeps
        its capture session, so it stays on the same side of the split as its session's
        other images."""
        with self._lock:
            e, to = self._entry(str(rel)), self._find(str(to))
            if e["class"] == to:
                raise TrueclassError(f"That image is already filed under {to!r}.")
            if not (self.root / e["file"]).is_file():
                raise TrueclassError("That image's file is gone from the project's folder; reload the page.")
            new = self._free_file(to, e["file"].split("/", 1)[1]).relative_to(self.root).as_posix()
            (self.root / to).mkdir(exist_ok=True)
            # the file first, then the manifest: a crash in between leaves the image in its new
            # folder, which _recover adopts there (as a capture session of its own), and forgets
            # the old entry; the image is never lost, its session may be
            os.replace(self.root / e["file"], self.root / new)
            was, e["file"], e["class"] = e["class"], new, to
            self._save()
            return {"file": new, "from": was, "to": to}

    def remove_image(self, rel: str) -> dict[str, Any]:
        """Take one image out of the project; its file moves to .trueclass/trash, not away."""
        with self._lock:
            e = self._entry(str(rel))
            trash = _free_path(self.state_dir / "trash" / f"images-{time.strftime('%Y%m%d')}" / e["file"])
            trash.parent.mkdir(parents=True, exist_ok=True)
            # what the manifest said of it, beside it in the trash, for unremove_image; then the file,
            # then the manifest: a crash in between leaves it in the trash with its record, and the
            # next start forgets its entry (the remove is done either way)
            atomic_write(_record_of(trash), json.dumps(e).encode())
            if (self.root / e["file"]).exists():
                shutil.move(str(self.root / e["file"]), str(trash))
            self._images.remove(e)
            try:
                self._save()
            except BaseException:
                self._images.append(e)
                if trash.exists():
                    shutil.move(str(trash), str(self.root / e["file"]))
                raise
            return {"removed": e["file"], "class": e["class"], "kept_in": str(trash)}

    def unremove_image(self, kept_in: str) -> dict[str, Any]:
        """Put a removed image back (the page's Undo): under its class, with its capture session."""
        with self._lock:
            trash = (self.state_dir / "trash").resolve()
            f = Path(str(kept_in)).resolve()
            inside = f.is_relative_to(trash) and f.relative_to(trash).parts[0].startswith("images-")
            if not inside or not f.is_file() or not _record_of(f).is_file():
                raise TrueclassError("That image is no longer in the trash.")
            try:
                e = json.loads(_record_of(f).read_text(encoding="utf-8"))
                cls, name = str(e["class"]), str(e["file"]).split("/", 1)[1]
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                raise TrueclassError("That image's record in the trash is damaged; the file is "
                                     f"{str(f)!r}.") from None
            cls = self._find(cls)
            dest = self._free_file(cls, name)
            e = {**e, "file": dest.relative_to(self.root).as_posix(), "class": cls}
            os.replace(f, dest)  # the file, then the manifest: a crash in between, and _recover adopts it
            self._images.append(e)
            self._save()
            _record_of(f).unlink(missing_ok=True)
            return {"file": e["file"], "class": cls}

    @staticmethod
    def new_session(kind: str) -> str:
        kind = kind if kind in ("upload", "webcam", "drawing", "builtin") else "upload"
        return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"

    def add_images(self, name: str, files: list[tuple[str, bytes]], *, session: str | None = None,
                   kind: str = "upload", each_its_own_session: bool = False) -> dict[str, Any]:
        """Add image files (original name, bytes) to class ``name`` as one capture session
        (or, ``each_its_own_session``, each file a session of its own: the built-in digits,
        each a different child's hand). Files that are not usable images are refused one
        by one, with the reason; the others are kept. The manifest is written once."""
        session = session or self.new_session(kind)
        if not re.match(r"^[\w\-]{1,80}$", session):
            raise TrueclassError("A capture session is named by letters, digits, - and _.")
        added, refused, already = [], [], []
        known = self._file_digests()  # outside the lock: the first call reads every file
        with self._lock:
            name = self._find(name)
            total = sum(int(e.get("bytes", 0)) for e in self._images)
            in_session = collections.Counter(e["session"] for e in self._images)  # numbers each file of a session
            for original, data in files:
                if each_its_own_session:
                    session = self.new_session(kind)
                shown = repr(os.path.basename(str(original))[:80] or "an upload")
                try:
                    ext, _ = check_image(data, shown)
                    if total + len(data) > MAX_PROJECT_BYTES:
                        raise ImageRefused(f"{shown} would take the project past {MAX_PROJECT_BYTES // 1024**3} GB; "
                                           "start another project or delete a class.")
                except ImageRefused as e:
                    refused.append({"file": str(original)[:80], "reason": str(e)})
                    continue
                digest = hashlib.sha1(data).hexdigest()
                if digest in known:  # the same file uploaded twice (by two students, or twice by one)
                    already.append({"file": str(original)[:80], "as": known[digest]})
                    continue
                rel = f"{name}/{session}-{in_session[session]:04d}{ext}"
                atomic_write(self.root / rel, data)  # the image first, then the manifest names it
                self._images.append({"file": rel, "class": name, "session": session, "bytes": len(data)})
                in_session[session] += 1
                total += len(data)
                added.append(rel)
                known[digest] = rel
            if added:
                self._save()
        return {"class": name, "session": session, "added": added, "refused": refused, "already": already}

    def has_session(self, name: str, session: str) -> bool:
        """Whether capture session ``session`` holds images of class ``name`` (the later parts
        of one upload join its first part's session: one upload, one session)."""
        with self._lock:
            return any(e["session"] == session and e["class"] == name for e in self._images)

    def _file_digests(self) -> dict[str, str]:
        """SHA-1 of each image file's bytes (data.file_hashes, the audit's) -> its path in the
        project; each file read once while its size and time stay the same (a class of
        students' uploads is read once)."""
        with self._lock:
            files = [e["file"] for e in self._images]
        keys = {}
        for rel in files:
            try:
                st = (self.root / rel).stat()
            except OSError:
                continue
            keys[rel] = (rel, st.st_size, st.st_mtime_ns)
        new = [k for k in keys.values() if k not in self._digest_cache]
        for key, digest in zip(new, file_hashes([self.root / k[0] for k in new])):
            if digest is not None:
                self._digest_cache[key] = digest
        out: dict[str, str] = {}
        for rel, key in keys.items():
            if key in self._digest_cache:
                out.setdefault(self._digest_cache[key], rel)
        return out
