"""Whether trueclass can write where it is asked to: one check for every command's output
place (a run folder, an audit's folder, a comparison, pictures, a predictions CSV), made
before any work so a long step never ends in a write that fails."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import TrueclassError

__all__ = ["check_writable", "check_writable_file", "check_run_writable", "as_umask_allows"]


def _read_umask() -> int:
    """The process's umask: from /proc where Linux tells it, else by setting it and back
    (once, at import: no other thread should see it half-done)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: What a plain open() or mkdir() would take away from a file's permissions.
_UMASK = _read_umask()


def as_umask_allows(path: Path) -> Path:
    """``path`` (a file, or a folder) with the permissions a plain open() or mkdir() would
    have given it: temporary files and folders (tempfile, safetensors) are made private
    (0600, 0700), and a run's checkpoint or export/ renamed from them stayed so."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_UMASK)
    return path


def check_writable(path: Path, *, removes: bool = False, default: bool = False, what: str = "run folder",
                   param: str = "out=FOLDER") -> None:
    """A sentence when trueclass could not create (or, ``removes``, replace) the folder
    ``path``: its nearest existing folder is read-only, or is a file. ``default``: a
    new folder in the default runs/; ``param``: the setting the sentence asks to change.
    Leaves nothing behind (see ``_can_create_in``)."""
    place = path
    try:
        while not place.exists() and place != place.parent:
            place = place.parent
        is_dir = place.is_dir()
    except OSError as exc:
        raise TrueclassError(f"trueclass cannot reach {str(place)!r} to write the {what} there "
                             f"({exc.strerror or exc}); choose {param} in a folder you can write.") from None
    shown = f"{str(path)}/" if default else str(path)
    what = f"the default {what} " if default else f"the {what} "
    to_do = f"{'give' if default else 'choose'} {param} in a folder you can write"
    if not is_dir:
        raise TrueclassError(f"trueclass cannot create {what}{shown!r}: {str(place)!r} is a file, not a folder; "
                             f"{to_do}.")
    places = [place] + ([place.parent] if removes and place == path else [])
    for p in places:
        if not os.access(p, os.W_OK | os.X_OK) or not _can_create_in(p):
            here = p.resolve() == Path.cwd().resolve()
            where = f"the current folder {str(Path.cwd())!r}" if here else repr(str(p))
            raise TrueclassError(f"trueclass cannot write {what}{shown!r}: {where} is read-only "
                                 f"(or not yours to write); {to_do}.")


def check_run_writable(run_dir: Path, what: str, verb: str) -> None:
    """A sentence when the existing run folder ``run_dir`` cannot take the ``what`` a
    command adds to it (an export, a rebuilt card): a run read-only where it was shared
    or mounted; ``verb`` says what to do with a copy."""
    if run_dir.is_dir() and not (os.access(run_dir, os.W_OK | os.X_OK) and _can_create_in(run_dir)):
        raise TrueclassError(f"The run folder {str(run_dir)!r} is read-only (or not yours to write), so trueclass "
                             f"cannot write its {what} there; copy the folder somewhere you can write, make the copy "
                             f"yours to write (cp -r, then chmod -R u+w) and {verb} the copy.")


def _can_create_in(folder: Path) -> bool:
    """Whether a folder can really be made in ``folder`` (made and removed at once): the
    permission bits say yes for root, and for file systems such as /sys that refuse
    anyway, where the first write would fail after all the work."""
    import tempfile

    try:
        probe = tempfile.mkdtemp(prefix=".trueclass-probe-", dir=folder)
    except OSError:
        return False
    try:
        os.rmdir(probe)
    except OSError:  # made but not removable: writable all the same; the empty probe stays
        pass
    return True


def check_writable_file(path: Path, *, what: str, param: str) -> None:
    """A sentence when trueclass could not write the file ``path`` (``what``, set by
    ``param``): it is a folder, or its folder cannot be created or written. Leaves nothing
    behind."""
    if path.is_dir():
        raise TrueclassError(f"{str(path)!r} is a folder; choose {param} for the {what}, a file name such as "
                             f"{str(path / 'predictions.csv')!r}.")
    check_writable(path.parent, what=f"folder of the {what}", param=param)
