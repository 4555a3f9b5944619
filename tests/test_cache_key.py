"""The KB cache's key covers the code a process runs, not the files on disk later (policy/cache.py).

A process that imported the package and then sees its files change (an upgrade under a running
server) keeps keying its entries by the code it imported: what it writes is never read by a process
running the new code, whose objects the entry would not match. Found when a test run went on while
the package changed under it: an entry written under the new code's key held the old code's objects.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_KEYS = """
import sys
from pathlib import Path
from reasoner.policy import cache
before = cache.key([])
module = Path(cache.__file__).parent.parent / "flow" / "decide.py"
module.write_text(module.read_text() + "\\n# changed under a running process\\n")
print(before, cache.key([]))
"""


def _keys(where: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _KEYS], cwd=where, env={"PYTHONPATH": str(where), "PATH": ""},
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_a_process_keys_by_the_code_it_imported_and_the_next_by_the_new(tmp_path):
    shutil.copytree(ROOT / "reasoner", tmp_path / "reasoner", ignore=shutil.ignore_patterns("__pycache__"))
    first_before, first_after = _keys(tmp_path)
    assert first_before == first_after  # the files changed, the running code did not
    second_before, _ = _keys(tmp_path)
    assert second_before != first_before  # a new process runs the new code: a new key
