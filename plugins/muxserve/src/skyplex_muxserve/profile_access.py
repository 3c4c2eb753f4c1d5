"""Which latency profiles an allocation request may name.

``options.profile`` arrives with the allocation problem, which the gateway takes from any HTTP client;
a path there must not make the server read a file of the client's choosing, nor tell the client
whether a file exists. So an option names a profile *under* the allowed folders (the plugin's packaged
data, and ``<data dir>/muxserve/profiles`` of the server), and every refusal reads the same. Callers in
the same process that mean to read any file pass it as ``MuxServeAllocator(profile=...)`` instead.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from skyplex.errors import InvalidInputError

from .api import default_profile_path, get_profile
from .profiles import LatencyProfile

#: Where a server keeps extra profiles that requests may name, relative to its data dir.
DATA_DIR_PROFILES = Path("muxserve") / "profiles"


def profile_roots(data_dir: str | Path | None) -> list[Path]:
    """The folders an option may name a profile in: the packaged data, then the server's own."""
    roots = [default_profile_path().parent]
    if data_dir is not None:
        roots.append(Path(data_dir) / DATA_DIR_PROFILES)
    return roots


def _refusal(name: object) -> InvalidInputError:
    # one message whatever went wrong (absent, outside, unreadable, not a profile): it must not reveal
    # whether a file exists or what it holds
    # (nor where the server keeps its files: the folders are named, not their paths)
    return InvalidInputError(
        f"options.profile {str(name)[:200]!r} is not a latency profile this server offers; name a file in the "
        f"plugin's packaged profiles (e.g. {default_profile_path().name!r}) or in the server's "
        f"<data dir>/{DATA_DIR_PROFILES.as_posix()}, or leave it out for the packaged A100 profile",
        field="options.profile")


def profile_from_option(name: object, data_dir: str | Path | None) -> LatencyProfile:
    """The profile ``name`` (relative to an allowed folder) names; one uniform 4xx error otherwise.

    The path is resolved (symlinks followed) and must stay inside the folder it was resolved against:
    ``..``, absolute paths and links that lead out are refused like a missing file.
    """
    roots = profile_roots(data_dir)
    if not isinstance(name, str) or not name or "\x00" in name or ".." in PurePath(name).parts \
            or PurePath(name).is_absolute():
        raise _refusal(name)
    for root in roots:
        try:
            base = root.resolve()
            target = (base / name).resolve()
        except (OSError, RuntimeError):
            continue
        if not target.is_relative_to(base) or target == base or not target.is_file():
            continue
        try:
            return get_profile(target)
        except Exception:  # noqa: BLE001 - any failure to read it reads as "not offered"
            raise _refusal(name) from None
    raise _refusal(name)
