"""The README as a new user meets it (issue #14): every code block runs as written, every command it names exists.

* ``python`` blocks run as scripts in a fresh temporary folder, each in its own process with a time limit,
  exactly as pasted into a file (so a missing ``if __name__ == "__main__":`` guard fails here too).
* ``bash`` blocks are not run (``make test`` would run itself); each command they name is checked instead: make
  targets exist in the Makefile, scripts and files exist, ``python -m`` modules import, pip extras exist.
* ``text`` blocks are illustrations; a block without a language fails (say which it is).
* Inline code that names a repository path, a command or a ``hpo_kit.`` name must exist too.
* The Makefile: ``make test`` says how long it takes and fails when the tests leave a file behind; ``make lab``
  adds ``--allow-root`` for root.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
LANGUAGES = {"python", "bash", "text"}
#: Seconds a README python block may take: it promises under a minute on two idle cores; CI machines are shared.
BLOCK_TIMEOUT = 300
#: Commands that are not this repository's and need not be installed where the tests run.
EXTERNAL = {"apt-get", "conda", "head", "jupyter", "dask", "pip"}


def blocks(text: str | None = None) -> list[tuple[str, str, int]]:
    """``(language, code, line)`` of every fenced block."""
    text = README if text is None else text
    out = []
    for m in re.finditer(r"^```(\S*)\n(.*?)^```$", text, re.M | re.S):
        out.append((m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1))
    return out


def heading_of(line: int) -> str:
    heads = [(i + 1, h) for i, h in enumerate(README.splitlines()) if h.startswith("#")]
    return re.sub(r"\W+", "-", max((h for h in heads if h[0] < line), default=(0, "top"))[1].strip("# ")).strip("-")


def python_blocks() -> list:
    return [pytest.param(code, id=f"line{line}-{heading_of(line)}")
            for lang, code, line in blocks() if lang == "python"]


def inline_code(text: str | None = None) -> list[str]:
    """Inline code spans outside fenced blocks (a span may wrap a line)."""
    text = README if text is None else text
    prose = re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)
    return [" ".join(m.group(1).split()) for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose)]


def pip_extras() -> set[str]:
    """The optional-dependency groups of pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([\w-]+)\s*=", section, re.M))


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {t for line in re.findall(r"^([\w .-]+):(?!=)", text, re.M) for t in line.split()}


# -- the blocks ---------------------------------------------------------------------------------------

def test_every_block_says_what_it_is():
    found = blocks()
    assert found, "no code blocks found"
    unknown = [(line, lang or "(none)") for lang, _, line in found if lang not in LANGUAGES]
    assert not unknown, f"blocks at these lines need a language out of {sorted(LANGUAGES)}: {unknown}"


def test_the_quick_start_is_the_shipped_script():
    first = next(code for lang, code, _ in blocks() if lang == "python")
    assert first == (ROOT / "hpo_kit/examples/quickstart.py").read_text(), \
        "the README's first python block and hpo_kit/examples/quickstart.py differ: keep them the same"


def _guarded(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    t = node.test
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators))


@pytest.mark.parametrize("code", python_blocks())
def test_a_block_that_runs_a_study_runs_it_under_the_main_guard(code):
    tree = ast.parse(code)
    for node in tree.body:
        if _guarded(node):
            continue
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Study"]
        assert not calls or isinstance(node, (ast.FunctionDef, ast.ClassDef)), \
            f"line {node.lineno}: a Study outside `if __name__ == \"__main__\":` (worker processes import the script)"


@pytest.mark.slow
@pytest.mark.parametrize("code", python_blocks())
def test_python_block_runs_as_a_script(code, tmp_path):
    script = tmp_path / "readme_block.py"
    script.write_text(code)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT)
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n" \
                                 f"{proc.stderr[-6000:]}"
    assert "FAILED" not in proc.stdout, proc.stdout  # a printed results table without failed trials
    assert "Traceback" not in proc.stderr, proc.stderr[-6000:]
    journals = list((tmp_path / "hpo-runs").glob("*.jsonl"))
    assert "Study(" not in code or journals, "the study wrote no journal under ./hpo-runs"
    for name in methods_of(code):  # the Search methods block: every method ran its own study and said so
        assert (tmp_path / "hpo-runs" / f"{name}.jsonl").exists(), f"no journal for the method {name!r}"
        assert re.search(rf"^{re.escape(name)} +[1-9]\d* trials", proc.stdout, re.M), (name, proc.stdout)


def methods_of(code: str) -> list[str]:
    """The keys of a ``methods = {...}`` dict literal in a block (the Search methods block), else none."""
    for node in ast.walk(ast.parse(code)):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(getattr(t, "id", None) == "methods" for t in node.targets)):
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return []


# -- commands ---------------------------------------------------------------------------------------

def check_command(words: list[str]) -> str | None:
    """Why ``words`` (one command) names something that does not exist, or ``None``."""
    words = [w for w in words if "<" not in w and "..." not in w]  # placeholders: <journal>, ...
    if not words:
        return None
    cmd, args = words[0], words[1:]
    if cmd == "make":
        missing = [a for a in args if not a.startswith("-") and "=" not in a and a not in make_targets()]
        return f"make target(s) {missing} not in the Makefile" if missing else None
    if cmd in ("python", "python3") or cmd.endswith("/python"):
        if "/" in cmd and not (ROOT / cmd).exists():
            return f"{cmd} does not exist"
        if "-m" in args:
            module = args[args.index("-m") + 1]
            if module == "pytest":
                paths = [a for a in args if "/" in a and not a.startswith("-")]
                return next((f"{p} does not exist" for p in paths if not (ROOT / p).exists()), None)
            return None if importlib.util.find_spec(module) else f"python -m {module}: no such module"
        script = next((a for a in args if not a.startswith("-")), None)
        return None if script is None or (ROOT / script).exists() else f"{script} does not exist"
    if cmd == "bash":
        return None if (ROOT / args[0]).exists() else f"{args[0]} does not exist"
    if cmd == "hpo-kit":
        from hpo_kit.cli import build_parser

        parser = build_parser()
        subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        sub = next((a for a in args if not a.startswith("-")), None)
        return None if sub is None or sub in subs.choices else f"hpo-kit has no command {sub!r}"
    if cmd == "pip" and args[:1] == ["install"]:
        for flag in ("-c", "-r"):
            if flag in args and not (ROOT / args[args.index(flag) + 1]).exists():
                return f"pip install {flag} {args[args.index(flag) + 1]}: no such file"
        extras = {e for a in args for m in [re.match(r"\.\[([\w,-]+)\]$", a)] if m for e in m.group(1).split(",")}
        known = pip_extras()
        return f"pip extras {sorted(extras - known)} not in pyproject.toml" if extras - known else None
    if cmd == "conda" and "-f" in args:
        return None if (ROOT / args[args.index("-f") + 1]).exists() else "conda env file missing"
    if "/" in cmd:
        return None if (ROOT / cmd).exists() else f"{cmd} does not exist"
    if cmd in EXTERNAL or shutil.which(cmd):
        return None
    return f"unknown command {cmd!r}"


def commands(code: str) -> list[list[str]]:
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        for part in re.split(r"&&|\|\||;|\|", line):
            if part.strip():
                out.append(shlex.split(part))
    return out


def test_bash_blocks_name_only_commands_targets_and_files_that_exist():
    problems = [(line, " ".join(words), why) for lang, code, line in blocks() if lang == "bash"
                for words in commands(code) for why in [check_command(words)] if why]
    assert not problems, problems


def test_inline_commands_name_things_that_exist():
    starts = ("make ", "pip ", "python ", "python3 ", ".venv/bin/", "bash ", "hpo-kit ", "conda ")
    problems = [(span, why) for span in inline_code() if span.startswith(starts)
                for words in commands(span) for why in [check_command(words)] if why]
    assert not problems, problems


def test_inline_repository_paths_exist():
    tops = ("hpo_kit/", "tests/", "benchmarks/", "docs/", "notebooks/", ".ci/")
    paths = set()
    for span in inline_code():
        for word in span.split():
            word = word.strip("(),:;")
            if "<" in word:  # a placeholder: benchmarks/<name>.py
                continue
            if word.startswith(tops) or word in ("Makefile", "constraints.txt", "environment.yml", "pyproject.toml"):
                paths.add(word.split("::")[0])
            elif re.fullmatch(r"\d\d_\w+\.ipynb", word):
                paths.add(f"notebooks/{word}")
    assert paths, "no repository paths found in the README's inline code"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"the README names paths that do not exist: {missing}"


def resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def test_inline_hpo_kit_names_exist():
    names = {m.group(0) for span in inline_code() for m in re.finditer(r"\bhpo_kit(?:\.\w+)+", span)}
    assert len(names) >= 5, names
    missing = []
    for name in sorted(names):
        try:
            resolve(name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name}: {exc}")
    assert not missing, missing


# -- what the first hour needs to read ---------------------------------------------------------------------

#: The README is for a user (issue #23): measurements live in docs/benchmarks.md.
MAX_LINES = 250


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lang, code, _ = blocks()[0]
    assert lang == "bash" and [words[:2] for words in commands(code)] == [["make", "demo"], ["make", "test"]], code
    assert README.count("\n") <= MAX_LINES, f"the README has {README.count(chr(10))} lines (at most {MAX_LINES})"
    for doc in ("docs/benchmarks.md", "docs/diagnosis.md", "docs/notebooks.md"):
        assert f"]({doc})" in README and (ROOT / doc).exists(), f"the README does not link {doc}"


def test_the_search_methods_block_shows_every_method():
    code = next(code for lang, code, _ in blocks() if lang == "python" and "methods = {" in code)
    for name in ("GridSearch(", "TimeAwareBO(", "ASHA(", "SuccessiveHalving(", "Hyperband(", "Hypersearch(",
                 "Diagnosis("):
        assert name in code, f"the Search methods block has no example of {name[:-1]}"
    assert len(methods_of(code)) >= 8

def test_the_readme_says_what_a_new_user_must_know():
    quick = README[README.index("## Quick start"):README.index("### Trials in two forms")]
    for needed in ('`if __name__ == "__main__":`', "random search", "FIFO", "`reporter.data`", "torch tensors",
                   "*returns*"):
        assert needed in quick, f"the Quick start does not say {needed!r}"
    journal = README[README.index("## Journal and resume"):README.index("### Faults")]
    assert ".jsonl.lock" in journal and ".jsonl.pkl" in journal and ".jsonl.ckpt/" in journal
    trust = README[README.index("## Trust"):README.index("## Architecture")]
    for needed in ("Study.resume", ".pkl", "weights_only=False", "weights_only=True", "settings.checkpoints",
                   "dashboard"):
        assert needed in trust, f"the Trust section does not say {needed!r}"
    assert 'pip install -c constraints.txt -e ".[notebooks]"' in README and "--allow-root" in README


# -- the Makefile ---------------------------------------------------------------------------------------

def fake_make(tmp_path: Path, target: str, writes: str = "", **variables: str) -> subprocess.CompletedProcess:
    """Run ``make target`` of this Makefile in a scratch git work tree, with a fake python/jupyter that
    prints its arguments (and writes ``writes``, a path relative to the tree)."""
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", tree / "Makefile")
    (tree / ".gitignore").write_text("bin/\nstamp\n")
    for name in ("python", "jupyter"):
        fake = tree / "bin" / name
        fake.write_text(f'#!/bin/sh\necho "fake {name} $*"\n' + (f'echo x > "{tree / writes}"\n' if writes else ""))
        fake.chmod(0o755)
    for name in ("pyproject.toml", "constraints.txt"):
        (tree / name).write_text("")
    os.utime(tree / "pyproject.toml", (0, 0))
    os.utime(tree / "constraints.txt", (0, 0))
    (tree / "stamp").write_text("")
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    args = ["make", "--no-print-directory", "-C", str(tree), target, f"BIN={tree / 'bin'}", "STAMP=stamp",
            "BROWSER_DEPS=", *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not shutil.which("make") or not shutil.which("git"), reason="needs make and git")
def test_make_test_says_how_long_it_takes_and_fails_on_files_the_tests_leave(tmp_path):
    ok = fake_make(tmp_path / "a", "test")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    first = ok.stdout.splitlines()[0]
    assert re.fullmatch(r"make test: about \d+ minutes on 2 cores .*", first), ok.stdout
    assert "fake python -m pytest tests notebooks --nbval-lax" in ok.stdout
    stray = fake_make(tmp_path / "b", "test", writes="stray.png")
    assert stray.returncode != 0 and "the tests changed the working tree" in stray.stdout
    assert "?? stray.png" in stray.stdout, stray.stdout
    skipped = fake_make(tmp_path / "c", "test", writes="stray.png", TREE_CHECK="0")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # CI runs the same command


@pytest.mark.skipif(not shutil.which("make") or not shutil.which("git"), reason="needs make and git")
def test_make_lab_opens_the_notebooks_and_allows_root_only_for_root(tmp_path):
    res = fake_make(tmp_path, "lab")
    assert res.returncode == 0, res.stdout + res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("fake jupyter"))
    assert line.split()[2:4] == ["lab", "notebooks/"]
    assert ("--allow-root" in line) == (os.geteuid() == 0), line


@pytest.mark.skipif(not (ROOT / ".git").exists() or not shutil.which("git"), reason="not a git checkout")
def test_journal_side_files_are_ignored_by_git():
    paths = ["hpo-runs/s.jsonl", "my.jsonl.lock", "my.jsonl.pkl", "my.jsonl.ckpt/trial-0/epoch-1.pt",
             "notebooks/hpo-runs/s.jsonl.pkl"]
    res = subprocess.run(["git", "--no-optional-locks", "check-ignore", *paths], cwd=ROOT, capture_output=True,
                         text=True)
    assert sorted(res.stdout.split()) == sorted(paths), res.stdout + res.stderr
