"""The catalog is the only door to SQL (issue 11 part 4).

Every SQL statement of the ``engine``, ``app`` and ``training`` packages lives in
``engine/catalog.py``.  The check reads the source with :mod:`ast` and flags, outside that
module, (a) any string (plain, f-string or concatenated) passed to ``execute``,
``executemany``, ``executescript`` or ``query`` that starts with an SQL verb, and (b) any string
literal anywhere that reads as a statement (``SELECT ... FROM``, ``INSERT INTO``, ``UPDATE x
SET``, ``DELETE FROM``, ``CREATE TABLE``, ``PRAGMA x``...), which catches a query built in a
variable first.  The second test points the same check at a tmp tree so it is shown to fail.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "app", "training")
ALLOWED = {Path("engine/catalog.py")}

_EXEC = {"execute", "executemany", "executescript", "query"}
_VERB = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA|ALTER|DROP|REPLACE|WITH)\b", re.I)
_STATEMENT = re.compile(
    r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER)\s|PRAGMA\s+\w+|ALTER\s+TABLE\s|DROP\s+(TABLE|INDEX)\s)",
    re.S,
)


def _text(node: ast.AST) -> str | None:
    """The literal text of a str constant, f-string (placeholders as ``?``) or ``+`` chain."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "?"
                       for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None or right is not None:
            return (left or "?") + (right or "?")
    return None


def sql_outside_catalog(root: Path, packages: tuple[str, ...] = PACKAGES,
                        allowed: set[Path] = ALLOWED) -> list[str]:
    """``"path:line: text"`` for every SQL statement under ``root/<package>`` outside ``allowed``."""
    found: list[str] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if rel in allowed:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
            seen: set[int] = set()
            for node in ast.walk(tree):
                hit: ast.AST | None = None
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in _EXEC and node.args):
                    text = _text(node.args[0])
                    if text is not None and _VERB.match(text):
                        hit = node.args[0]
                elif isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                    text = _text(node)
                    if text is not None and _STATEMENT.match(text):
                        hit = node
                if hit is not None and hit.lineno not in seen:
                    seen.add(hit.lineno)
                    found.append(f"{rel}:{hit.lineno}: {(_text(hit) or '').strip()[:80]}")
    return found


def test_no_sql_outside_the_catalog() -> None:
    assert sql_outside_catalog(ROOT) == [], "SQL belongs in engine/catalog.py (a Catalog method per query)"


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ('def f(c):\n    return c.conn.execute("SELECT hash FROM faces").fetchall()\n', True),
        ('def f(c, t):\n    c.conn.execute(f"pragma table_info({t})")\n', True),
        ('Q = "DELETE FROM decisions WHERE shot = ?"\n\ndef f(c):\n    c.conn.execute(Q)\n', True),
        ('def f(c, cols):\n    c.execute("INSERT INTO scores (" + cols + ") VALUES (?)")\n', True),
        ('def f(c):\n    c.db.executescript("""\n    CREATE TABLE t (a);\n    """)\n', True),
        ('"""Select the best shot from each group, then update the view."""\n', False),
        ('def f(c):\n    return c.grouped_shots()\n', False),
    ],
)
def test_the_check_finds_sql(tmp_path: Path, source: str, flagged: bool) -> None:
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "mod.py").write_text(source, encoding="utf-8")
    (tmp_path / "engine" / "catalog.py").write_text(
        'def f(c):\n    c.execute("SELECT key FROM shots")\n', encoding="utf-8")
    found = sql_outside_catalog(tmp_path)
    assert bool(found) is flagged, found
    assert all(f.startswith("engine/mod.py:") for f in found)
