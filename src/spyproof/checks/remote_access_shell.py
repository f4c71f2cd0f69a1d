"""A quoting-aware reader of shell scripts that lists the commands they run, never runs them.

Boot scripts are where firmware starts its daemons. Executing them is out of the question
and a full shell grammar is more than the job needs: this reader tokenizes like a POSIX
shell (quotes, escapes, line continuations, comments, here-documents, redirections, ``$(…)``)
and follows the simple variables a script defines itself (``PORT=23`` then ``-p $PORT``),
so that ``telnetd -p $PORT`` is seen as ``telnetd -p 23`` and ``#telnetd`` or a start after
a top-level ``exit`` are not seen at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

_OPS = (";;", "&&", "||", "|&", ";", "&", "|", "(", ")")
_REDIR = re.compile(r"(\d*)(<<-|<<<|<<|>>|>&|<&|&>>|&>|>\||<>|>|<)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=(.*)", re.S)
_META = set(" \t\r\n;&|()<>")
_PLAIN = re.compile(r"[^ \t\r\n;&|()<>\\'\"$`*?\[]+")  # a run of ordinary word characters
_BLANK = re.compile(r"[ \t\r]+")
_KEYWORDS_PASS = {"then", "else", "!", "time", "elif", "while", "until"}
_DECLARE = {"export", "local", "readonly", "declare", "typeset"}
UNKNOWN = None  # a variable whose value the script computes at run time
MAX_COMMANDS = 200_000


@dataclass
class Word:
    text: str
    line: int
    unresolved: bool = False  # holds a $VAR, $(…) or `…` whose value is unknown
    glob: bool = False  # has unquoted * ? [


@dataclass
class Command:
    """One simple command: its words after expansion, where it is, what it is piped into.

    ``origin`` is None for the scanned text itself, else what ``include`` returned for the
    sourced file the command is written in."""

    argv: list[str]
    line: int
    unresolved: bool = False
    piped_into: list[str] | None = None
    background: bool = False
    origin: object = None


@dataclass
class ForLoop:
    """``for VAR in WORDS``: the words (globs are expanded by the caller, in the image)."""

    var: str
    words: list[Word]
    line: int
    origin: object = None


@dataclass
class Source:
    """``. FILE`` or ``source FILE``."""

    path: str
    line: int
    origin: object = None


@dataclass
class Exit:
    line: int
    origin: object = None


Event = Command | ForLoop | Source | Exit


@dataclass
class _Tok:
    kind: str  # "word" or "op"
    value: str
    line: int
    word: Word | None = None


@dataclass
class _Piece:
    text: str
    split: bool  # from an unquoted expansion: subject to word splitting


class _Lexer:
    def __init__(self, text: str, env: dict[str, str | None], line: int) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.line = line
        self.env = env
        self.heredocs: list[tuple[str, bool]] = []

    # -- helpers ---------------------------------------------------------------------------

    def _skip_heredocs(self) -> None:
        for delim, strip_tabs in self.heredocs:
            while self.i < self.n:
                end = self.s.find("\n", self.i)
                end = self.n if end < 0 else end
                body = self.s[self.i:end]
                self.i = min(end + 1, self.n)
                self.line += 1
                if (body.lstrip("\t") if strip_tabs else body).rstrip("\r") == delim:
                    break
        self.heredocs.clear()

    def _balanced(self, open_: str, close: str) -> str:
        """Text up to the matching ``close`` (the opener is consumed already)."""
        depth, start = 1, self.i
        while self.i < self.n and depth:
            c = self.s[self.i]
            if c == "\\":
                self.i += 1
            elif c == "\n":
                self.line += 1
            elif c == "'":
                end = self.s.find("'", self.i + 1)
                if end < 0:
                    end = self.n
                self.line += self.s.count("\n", self.i, end)
                self.i = end
            elif c == open_:
                depth += 1
            elif c == close:
                depth -= 1
            self.i += 1
        return self.s[start:self.i - 1]

    def _expand(self, quoted: bool) -> tuple[_Piece, bool]:
        """At a ``$``: its expansion and whether it is unknown."""
        s, i = self.s, self.i + 1
        if i < self.n and s[i] == "(":
            self.i = i + 1
            inner = self._balanced("(", ")")
            return _Piece(f"$({inner})", False), True
        if i < self.n and s[i] == "{":
            self.i = i + 1
            inner = self._balanced("{", "}")
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])(.*))?", inner, re.S)
            if not m:
                return _Piece("${" + inner + "}", False), True
            name, op, default = m.groups()
            val = self.env.get(name, UNKNOWN)
            plain = "$" not in (default or "") and "`" not in (default or "")
            if op and plain and (val is None or (op.startswith(":") and val == "")):
                val = default.strip("\"'")
                if op.endswith("="):
                    self.env[name] = val
            if val is None:
                return _Piece("${" + name + "}", False), True
            return _Piece(val, not quoted), False
        m = _NAME.match(s, i)
        if m:
            self.i = m.end()
            val = self.env.get(m.group(), UNKNOWN)
            if val is None:
                return _Piece("$" + m.group(), False), True
            return _Piece(val, not quoted), False
        if i < self.n and (s[i].isdigit() or s[i] in "@*#?$!-"):
            self.i = i + 1
            return _Piece("$" + s[i], False), True
        self.i = i
        return _Piece("$", False), False

    def _word(self) -> list[Word]:
        s = self.s
        pieces: list[_Piece] = []
        start_line = self.line
        unresolved = glob = False
        buf: list[str] = []

        def flush() -> None:
            if buf:
                pieces.append(_Piece("".join(buf), False))
                buf.clear()

        while self.i < self.n:
            c = s[self.i]
            if c in _META:
                break
            if c == "\\":
                if self.i + 1 < self.n:
                    if s[self.i + 1] == "\n":
                        self.line += 1
                    else:
                        buf.append(s[self.i + 1])
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                end = self.n if end < 0 else end
                buf.append(s[self.i + 1:end])
                self.line += s.count("\n", self.i, end)
                self.i = end + 1
            elif c == '"':
                self.i += 1
                while self.i < self.n and s[self.i] != '"':
                    d = s[self.i]
                    if d == "\\" and self.i + 1 < self.n:
                        nxt = s[self.i + 1]
                        if nxt == "\n":
                            self.line += 1
                        elif nxt in '"\\$`':
                            buf.append(nxt)
                        else:
                            buf.append(d + nxt)
                        self.i += 2
                    elif d == "$":
                        flush()
                        piece, unknown = self._expand(quoted=True)
                        pieces.append(piece)
                        unresolved |= unknown
                    elif d == "`":
                        self.i += 1
                        flush()
                        pieces.append(_Piece("`" + self._backtick() + "`", False))
                        unresolved = True
                    else:
                        if d == "\n":
                            self.line += 1
                        buf.append(d)
                        self.i += 1
                self.i += 1
            elif c == "$":
                flush()
                piece, unknown = self._expand(quoted=False)
                pieces.append(piece)
                unresolved |= unknown
            elif c == "`":
                self.i += 1
                flush()
                pieces.append(_Piece("`" + self._backtick() + "`", False))
                unresolved = True
            else:
                m = _PLAIN.match(s, self.i)
                if m:
                    buf.append(m.group())
                    self.i = m.end()
                else:  # * ? [
                    glob = True
                    buf.append(c)
                    self.i += 1
        flush()
        if any(p.split for p in pieces):
            return [Word(t, start_line, unresolved, glob) for t in _split_pieces(pieces)]
        return [Word("".join(p.text for p in pieces), start_line, unresolved, glob)]

    def _backtick(self) -> str:
        start = self.i
        while self.i < self.n and self.s[self.i] != "`":
            if self.s[self.i] == "\\":
                self.i += 1
            elif self.s[self.i] == "\n":
                self.line += 1
            self.i += 1
        out = self.s[start:self.i]
        self.i += 1
        return out

    # -- tokens ----------------------------------------------------------------------------

    def tokens(self) -> Iterator[_Tok]:
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
                self.line += 1
                continue
            if c in " \t\r":
                self.i = _BLANK.match(s, self.i).end()  # type: ignore[union-attr]
                continue
            if c == "\n":
                yield _Tok("op", "\n", self.line)
                self.i += 1
                self.line += 1
                if self.heredocs:
                    self._skip_heredocs()
                continue
            if c == "#":
                end = s.find("\n", self.i)
                self.i = self.n if end < 0 else end
                continue
            m = _REDIR.match(s, self.i) if (c in "<>&" or c.isdigit()) else None
            if m and (c != "&" or m.group(2).startswith("&")):
                self.i = m.end()
                self._redirect(m.group(2))
                continue
            op = next((o for o in _OPS if s.startswith(o, self.i)), None)
            if op:
                yield _Tok("op", op, self.line)
                self.i += len(op)
                continue
            for w in self._word():
                yield _Tok("word", w.text, w.line, w)

    def _redirect(self, op: str) -> None:
        while self.i < self.n and self.s[self.i] in " \t":
            self.i += 1
        if self.i >= self.n or self.s[self.i] in "\n;&|()":
            return
        target = " ".join(w.text for w in self._word())
        if op in ("<<", "<<-"):
            self.heredocs.append((target, op == "<<-"))


def _split_pieces(pieces: list[_Piece]) -> list[str]:
    words: list[str] = []
    cur: list[str] = []
    have = False
    for p in pieces:
        if not p.split:
            cur.append(p.text)
            have = True
            continue
        parts = re.split(r"[ \t\n]+", p.text)
        for k, part in enumerate(parts):
            if k > 0 and (have or cur):
                words.append("".join(cur))
                cur, have = [], False
            if part:
                cur.append(part)
                have = True
    if have or cur:
        words.append("".join(cur))
    return [w for w in words if w != ""] or [""]


@dataclass
class _State:
    depth: int = 0
    parens: int = 0
    count: int = 0
    stopped: bool = False
    prev_sep: str = "\n"  # the operator before the current command (&&, || make it
    pipeline: list[Command] = field(default_factory=list)  # conditional)


Include = Callable[[str, int], "tuple[str, object] | None"]


def scan(text: str, env: dict[str, str | None] | None = None, *, line: int = 1,
         include: Include | None = None, origin: object = None,
         include_depth: int = 0) -> Iterator[Event]:
    """The commands (and ``for`` loops, sourced files, ``exit``) of a script, in order.

    ``env`` holds the variables known so far and is updated as the script assigns them.
    ``include(path, line)`` returns the text of a sourced file and an origin tag for its
    events (or None to skip it); its events are yielded in place, tagged with that origin.
    """
    env = {} if env is None else env
    lexer = _Lexer(text, env, line)
    st = _State()
    words: list[_Tok] = []
    for tok in lexer.tokens():
        if tok.kind == "word":
            words.append(tok)
            continue
        yield from _finish(words, tok.value, st, env, include, origin, include_depth)
        words = []
        if st.stopped:
            return
    yield from _finish(words, "\n", st, env, include, origin, include_depth)


def _finish(toks: list[_Tok], sep: str, st: _State, env: dict[str, str | None],
            include: Include | None, origin: object, include_depth: int) -> Iterator[Event]:
    cmd = _simple(toks, sep, st, env)
    if toks or sep not in ("(", ")"):
        st.prev_sep = sep
    if sep == "(":
        st.parens += 1
    elif sep == ")" and st.parens:
        st.parens -= 1
    if isinstance(cmd, Command):
        cmd.background = sep == "&"
        cmd.origin = origin
        st.pipeline.append(cmd)
    elif cmd is not None:
        cmd.origin = origin
        yield cmd
        if isinstance(cmd, Exit):
            st.stopped = True
            return
        if isinstance(cmd, Source) and include is not None and include_depth < 4:
            got = include(cmd.path, cmd.line)
            if got is not None:
                body, tag = got
                for ev in scan(body, env, include=include, origin=tag,
                               include_depth=include_depth + 1):
                    yield ev
                    if isinstance(ev, Exit):
                        st.stopped = True
                        return
    if sep not in ("|", "|&") and st.pipeline:
        pipe = st.pipeline
        st.pipeline = []
        for k, c in enumerate(pipe):
            if k + 1 < len(pipe):
                c.piped_into = pipe[k + 1].argv
            st.count += 1
            if st.count > MAX_COMMANDS:
                st.stopped = True
                return
            yield c


def _simple(toks: list[_Tok], sep: str, st: _State, env: dict[str, str | None]
            ) -> Event | None:
    words = [t.word for t in toks if t.word is not None]
    # reserved words that open, close or prefix a command
    while words:
        head = words[0].text
        if head in ("fi", "esac", "done", "}"):
            st.depth = max(0, st.depth - 1)
        elif head in ("if", "case", "{", "do"):
            st.depth += 1
            if head == "case":
                return None
        elif head not in _KEYWORDS_PASS:
            break
        words = words[1:]
    if not words:
        return None
    if sep == ")" and not st.parens:
        return None  # a case pattern: "start)" or "telnetd|ssh)"
    if sep == "(":
        return None  # "name() {": a function definition, not a run
    head = words[0].text
    if head in ("for", "select") and len(words) >= 2:
        rest = words[2:]
        if rest and rest[0].text == "in":
            return ForLoop(var=words[1].text, words=rest[1:], line=words[0].line)
        return None
    # assignments (alone: they persist; before a command: they are its environment)
    k = 0
    while k < len(words) and _ASSIGN.fullmatch(words[k].text):
        k += 1
    if k == len(words):
        for w in words:
            name, val = _ASSIGN.fullmatch(w.text).groups()  # type: ignore[union-attr]
            env[name] = None if w.unresolved else val
        return None
    words = words[k:]
    head = words[0].text
    if head in _DECLARE:
        for w in words[1:]:
            m = _ASSIGN.fullmatch(w.text)
            if m:
                env[m.group(1)] = None if w.unresolved else m.group(2)
        return None
    if head == "exit" and st.depth == 0 and not st.parens and st.prev_sep not in ("&&", "||"):
        return Exit(line=words[0].line)
    if head in (".", "source") and len(words) >= 2:
        return Source(path=words[1].text, line=words[0].line)
    return Command(argv=[w.text for w in words], line=words[0].line,
                   unresolved=any(w.unresolved for w in words))


def split_words(text: str, env: dict[str, str | None] | None = None) -> list[str]:
    """The words of one command line (quotes removed, known variables expanded)."""
    lexer = _Lexer(text, dict(env or {}), 1)
    return [t.value for t in lexer.tokens() if t.kind == "word"]
