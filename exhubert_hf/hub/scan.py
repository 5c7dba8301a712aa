"""What must never leave the machine in an upload: pickles and secrets, recognised by what a file holds.

`scan_file(path)` returns the reasons a file must not be published (empty when it may be):

* **Pickles** (loading one can run arbitrary code), by content whatever the name: a pickle with a protocol
  header (2 to 5: `pickle`, `dill`, `joblib`, a legacy `torch.save`), a header-less protocol 0/1 pickle that
  imports or calls something, a zip archive holding one (`torch.save`'s format, whatever the suffix, e.g.
  `checkpoint.pth.tar`), a NumPy `.npy` of Python objects (or an `.npz` holding one), and any of these inside
  gzip, bz2, xz/lzma, zlib (joblib's `compress=`) or tar.
* **Secrets**, in every file whatever its size (read in blocks: bounded memory), encoding (UTF-16 and UTF-32
  text is searched with its NUL bytes removed) or content (NUL bytes, binary files, safetensors metadata): the
  token and key formats of `SECRET_PATTERNS`. The secret itself is never repeated in a message.

`secret_name_reason(path)` says when a file's name or folder is one that holds credentials (`.env`, `prod.env`,
`.envrc`, `kaggle.json`, SSH keys, `.aws/`, ...), and `link_reason(folder, path)` when a file is a symbolic link
leaving the folder (an upload would publish what it points to, e.g. a private key).
"""

import bz2
import gzip
import io
import lzma
import os
import pickletools
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

BLOCK = 1 << 20  # bytes read at a time when searching for secrets
OVERLAP = 1 << 10  # bytes kept from the previous block, so a secret split across blocks is still found
HEAD = 1 << 16  # bytes of a (decompressed) stream inspected for a pickle
MAX_MEMBERS = 10_000  # archive members inspected; an archive with more is refused unchecked
MAX_DEPTH = 3  # archives inside archives

# (what it is, the literal it starts with, the whole pattern at that literal, whether it may follow a letter): the
# common token and key formats. Each starts with a literal of at least two bytes: a block is searched for the
# literals' first two bytes at once (`_candidates`, vectorised), and the pattern is only tried where its literal
# occurs; short literals that occur inside words ("task-" for "sk-") count only at the start of a word.
SECRET_PATTERNS = tuple(
    (name, prefix, re.compile(pattern), inside_words)
    for name, prefix, pattern, inside_words in (
        ("a Hugging Face access token (hf_...)", b"hf_", rb"hf_[A-Za-z0-9]{30,}", True),
        ("a Hugging Face organisation token (api_org_...)", b"api_org_", rb"api_org_[A-Za-z0-9]{30,}", True),
        ("a GitHub token", b"gh", rb"gh[pousr]_[A-Za-z0-9]{36,}", False),
        ("a GitHub token", b"github_pat_", rb"github_pat_[A-Za-z0-9_]{50,}", True),
        ("an AWS access key id", b"AKIA", rb"AKIA[A-Z0-9]{16}(?![A-Z0-9])", True),
        ("an AWS access key id", b"ASIA", rb"ASIA[A-Z0-9]{16}(?![A-Z0-9])", True),
        ("an AWS secret access key", b"_secret_access_key", rb"_secret_access_key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}", True),
        ("an AWS secret access key", b"_SECRET_ACCESS_KEY", rb"_SECRET_ACCESS_KEY[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}", True),
        ("a private key", b"-----BEGIN ", rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", True),
        ("an OpenAI or Anthropic API key", b"sk-", rb"sk-(?:ant-|proj-)?[A-Za-z0-9_-]{32,}", False),
        ("a Google API key", b"AIza", rb"AIza[0-9A-Za-z_-]{35}", True),
        ("a Slack token", b"xox", rb"xox[abposr]-[A-Za-z0-9-]{10,}", False),
        ("a Stripe secret key", b"sk_live_", rb"sk_live_[A-Za-z0-9]{20,}", True),
        ("a Stripe secret key", b"rk_live_", rb"rk_live_[A-Za-z0-9]{20,}", True),
        ("a Kaggle API key", b'"key"', rb'"key"\s*:\s*"[0-9a-f]{32}"', True),
    )
)
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_BY_BIGRAM: dict[int, list] = {}
for _entry in SECRET_PATTERNS:
    _BY_BIGRAM.setdefault(_entry[1][0] | _entry[1][1] << 8, []).append(_entry)
_IS_BIGRAM = np.zeros(1 << 16, dtype=bool)
_IS_BIGRAM[list(_BY_BIGRAM)] = True

_SECRET_NAMES = {
    ".env", ".envrc", ".netrc", "_netrc", ".git-credentials", ".pypirc", ".npmrc", ".pgpass", ".s3cfg", ".boto",
    ".dockercfg", ".htpasswd", "kaggle.json", "stored_tokens", "application_default_credentials.json",
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519",
}  # fmt: skip
_SECRET_SUFFIXES = (".env", ".pem", ".key", ".p12", ".pfx", ".keystore", ".jks", ".ppk")
_SECRET_PREFIXES = (".env.", "credentials", "secret.", "secrets.", "service-account", "service_account")
_SECRET_FOLDERS = {".huggingface", ".ssh", ".aws", ".gnupg", ".docker", ".kaggle", ".azure", "gcloud"}
_TOKENIZER_FILES = {"special_tokens_map.json", "added_tokens.json", "tokenizer.json", "tokenizer_config.json"}
_TOKEN_NAME = re.compile(r"(^|[._-])tokens?($|[._-])")

# Opcodes that make unpickling import or call something (a pickle without them only rebuilds plain data).
_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "REDUCE", "BUILD", "EXT1", "EXT2", "EXT4"}
_PROTOCOL_0_STARTS = frozenset(b"(c]})NIFLSVXUTKJMGid")
_ZLIB_HEADERS = {b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"}


def scan_file(path) -> list[str]:
    """The reasons `path` must not be published: a pickle (by content) and every kind of secret it holds."""
    path = Path(path)
    reasons = []
    pickle_reason = pickle_kind(path)
    if pickle_reason:
        reasons.append(f"{pickle_reason} (loading it can run arbitrary code)")
    reasons.extend(f"holds what looks like {kind}" for kind in secrets_in(path))
    return reasons


def secrets_in(path) -> list[str]:
    """The kinds of `SECRET_PATTERNS` found in the file, read block by block, as bytes and, where a block holds
    UTF-16 or UTF-32 text, once more with its NUL bytes removed (which turns that text into ASCII)."""
    found = []
    tail = b""
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            window = tail + block
            views = (window, window.replace(b"\0", b"")) if _holds_wide_text(window) else (window,)
            for view in views:
                found.extend(name for name in _secrets_in_block(view) if name not in found)
            tail = window[-OVERLAP:]
    return found


def _holds_wide_text(block: bytes) -> bool:
    """Whether four printable ASCII characters in a row appear as UTF-16 (either byte order) or UTF-32 text."""
    if b"\0" not in block:
        return False
    data = np.frombuffer(block, dtype=np.uint8)
    printable, nul = (data >= 0x20) & (data <= 0x7E), data == 0
    for width in (2, 4):
        wide = printable[: len(data) - width + 1].copy()
        for offset in range(1, width):
            wide &= nul[offset : len(data) - width + 1 + offset]
        span = 3 * width
        if len(wide) > span and (wide[:-span] & wide[width : len(wide) - span + width] & wide[2 * width : len(wide) - width] & wide[span:]).any():
            return True
    return False


def _secrets_in_block(block: bytes):
    if len(block) < 2:
        return
    data = np.frombuffer(block, dtype=np.uint8).astype(np.uint16)
    bigrams = data[:-1] | (data[1:] << 8)
    reported = set()
    for start in np.flatnonzero(_IS_BIGRAM[bigrams]).tolist():
        for name, prefix, pattern, inside_words in _BY_BIGRAM[int(bigrams[start])]:
            if name in reported or not block.startswith(prefix, start):
                continue
            if (inside_words or start == 0 or block[start - 1] not in _WORD) and pattern.match(block, start):
                reported.add(name)
                yield name


def pickle_kind(path) -> str | None:
    """What kind of pickle the file is or holds ("a pickle (protocol 4)", "a zip archive holding a pickle
    (archive/data.pkl)", ...), or None."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD)
        if zipfile.is_zipfile(handle):
            return _zip_pickle(zipfile.ZipFile(handle), "a zip archive", 1)
        if head[257:262] == b"ustar":
            handle.seek(0)
            return _tar_pickle(handle, "a tar archive", 1)
        kind = _stream_pickle(head, handle, 0)
        if kind is None and head[:1] and head[0] in _PROTOCOL_0_STARTS:
            handle.seek(0)
            kind = _protocol_0_pickle(handle)
        return kind


def _stream_pickle(head: bytes, stream, depth: int) -> str | None:
    """Recognises a pickle, an object .npy, or a compressed stream holding one, from its first bytes; `stream`
    (positioned after `head`, or None) is what a compressed stream is read from."""
    if _has_pickle_header(head):
        return f"a pickle (protocol {head[1]})"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy array of Python objects (stored as a pickle)" if _npy_holds_objects(head) else None
    if depth >= MAX_DEPTH:
        return None
    for name, magic, opener in _COMPRESSED:
        if head.startswith(magic):
            try:
                inner = opener(_Chained(head, stream))
                inner_head = inner.read(HEAD)
            except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
                return None
            if inner_head[257:262] == b"ustar":
                return _tar_pickle(_Chained(inner_head, inner), f"{name} holding a tar archive", depth + 1)
            kind = _stream_pickle(inner_head, inner, depth + 1)
            return f"{name} holding {kind}" if kind else None
    return None


def _has_pickle_header(head: bytes) -> bool:
    """PROTO 2..5 followed by opcodes that parse (a safetensors file whose header length starts with the same two
    bytes does not parse)."""
    if len(head) < 3 or head[0] != 0x80 or not 2 <= head[1] <= 5:
        return False
    try:
        for count, _ in enumerate(pickletools.genops(io.BytesIO(head)), start=1):
            if count >= 4:
                return True
    except ValueError:
        return False
    return True  # a short pickle that reached STOP


def _protocol_0_pickle(handle) -> str | None:
    """A header-less (protocol 0 or 1) pickle: the file parses as pickle opcodes up to STOP at its end, and
    unpickling it would import or call something. Lines and arguments longer than `HEAD` bytes end the parse
    (ordinary files are not read whole); past 64 opcodes, one that imports or calls is enough."""
    reader = _BoundedReader(handle)
    calls, count = False, 0
    try:
        for count, (opcode, _, _) in enumerate(pickletools.genops(reader), start=1):
            calls = calls or opcode.name in _CODE_OPCODES
    except _TooLong:
        return "a pickle (protocol 0 or 1)" if calls and count >= 64 else None
    except (ValueError, UnicodeDecodeError, OverflowError):
        return None
    return "a pickle (protocol 0 or 1)" if calls and not handle.read(1) else None


class _TooLong(Exception):
    pass


class _BoundedReader:
    """A file for `pickletools.genops` that refuses to read more than `HEAD` bytes at once."""

    def __init__(self, handle):
        self._handle = handle

    def read(self, size=-1):
        if size < 0 or size > HEAD:
            raise _TooLong
        return self._handle.read(size)

    def readline(self):
        line = self._handle.readline(HEAD)
        if len(line) == HEAD and not line.endswith(b"\n"):
            raise _TooLong
        return line


def _npy_holds_objects(head: bytes) -> bool:
    stream = io.BytesIO(head)
    try:
        major, _ = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(stream)
    except (ValueError, SyntaxError, TypeError):
        return True  # an .npy header that numpy cannot read as plain data: not something to publish unchecked
    return dtype.hasobject


def _zip_pickle(archive: zipfile.ZipFile, what: str, depth: int) -> str | None:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        return f"{what} with {len(members)} members (too many to check for pickles)"
    for member in members:
        if member.is_dir():
            continue
        if member.filename.endswith((".pkl", ".pickle")):
            return f"{what} holding a pickle ({member.filename}, as torch.save writes)"
        try:
            with archive.open(member) as stream:
                head = stream.read(HEAD)
                kind = _stream_pickle(head, stream, depth)
        except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile):
            return f"{what} whose member {member.filename} cannot be read to check it for pickles"
        if kind:
            return f"{what} holding {kind} ({member.filename})"
    return None


def _tar_pickle(stream, what: str, depth: int) -> str | None:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    return f"{what} with more than {MAX_MEMBERS} members (too many to check for pickles)"
                if not member.isfile():
                    continue
                extracted = archive.extractfile(member)
                head = extracted.read(HEAD)
                if member.name.endswith((".pkl", ".pickle")) and head:
                    return f"{what} holding a pickle ({member.name})"
                if head[:4] == b"PK\x03\x04":
                    kind = f"a zip archive ({member.name})"
                    return f"{what} holding {kind}, which may hold a pickle"
                kind = _stream_pickle(head, extracted, depth)
                if kind:
                    return f"{what} holding {kind} ({member.name})"
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


class _Chained(io.RawIOBase):
    """`head` followed by the rest of `stream`: a readable stream for the decompressors."""

    def __init__(self, head: bytes, stream):
        self._head = io.BytesIO(head)
        self._stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._head.read(len(buffer))
        if not data and self._stream is not None:
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _ZlibReader(io.RawIOBase):
    """A zlib stream (joblib's `compress=True`) decompressed as it is read."""

    def __init__(self, stream):
        self._stream = stream
        self._decompressor = zlib.decompressobj()
        self._buffer = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._buffer and not self._decompressor.eof:
            compressed = self._stream.read(BLOCK)
            if not compressed:
                break
            self._buffer = self._decompressor.decompress(compressed, len(buffer))
        data, self._buffer = self._buffer[: len(buffer)], self._buffer[len(buffer) :]
        buffer[: len(data)] = data
        return len(data)


def _open_zlib(raw):
    return io.BufferedReader(_ZlibReader(raw))


_COMPRESSED = (
    ("gzip data", b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=io.BufferedReader(raw))),
    ("bzip2 data", b"BZh", lambda raw: bz2.BZ2File(io.BufferedReader(raw))),
    ("xz data", b"\xfd7zXZ\x00", lambda raw: lzma.LZMAFile(io.BufferedReader(raw))),
    ("lzma data", b"\x5d\x00\x00", lambda raw: lzma.LZMAFile(io.BufferedReader(raw), format=lzma.FORMAT_ALONE)),
    *(("zlib data", header, _open_zlib) for header in sorted(_ZLIB_HEADERS)),
)


def secret_name_reason(path: str) -> str | None:
    """Why a file's name (or a folder on its path, posix `path` relative to the upload folder) marks it as
    credentials, or None."""
    parts = path.lower().split("/")
    name = parts[-1]
    folders = [part for part in parts[:-1] if part in _SECRET_FOLDERS]
    if folders:
        return f"inside a {folders[0]} folder, which holds credentials"
    if name in _TOKENIZER_FILES:
        return None
    if (
        name in _SECRET_NAMES
        or name.endswith(_SECRET_SUFFIXES)
        or name.startswith(_SECRET_PREFIXES)
        or _TOKEN_NAME.search(name)
    ):
        return "named like a file that holds credentials or keys"
    return None


def link_reason(folder: Path, path: Path) -> str | None:
    """Why `path` (a file inside `folder`) must not be uploaded as a link, or None: a symbolic link whose target
    lies outside `folder` (or does not exist)."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "a symbolic link whose target does not exist"
    root = folder.resolve()
    if target != root and root not in target.parents:
        return "a symbolic link to a file outside the folder (an upload would publish what it points to)"
    return None


def walk_files(folder: Path):
    """(relative posix path, absolute path, link reason or None) of every file under `folder`, sorted. Links to
    folders are not followed: what lies behind them is not part of the folder (and is never uploaded)."""
    for root, folders, files in os.walk(folder, followlinks=False):
        root = Path(root)
        folders.sort()
        for name in sorted(files):
            path = root / name
            yield path.relative_to(folder).as_posix(), path, link_reason(folder, path)


__all__ = [
    "SECRET_PATTERNS",
    "link_reason",
    "pickle_kind",
    "scan_file",
    "secret_name_reason",
    "secrets_in",
    "walk_files",
]
