"""The README's JavaScript section runs as written: each ```js block of it, saved as an
ES module beside a `node_modules/aipod-api` that is clients/js (what `npm install
./clients/js` makes), against a fresh server with the demo data. The only change is the
server's address: the blocks say http://localhost:5001, the test server is elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from helpers import LiveServer
from jsnode import JS_CLIENT, REPO, node_or_skip, run_node


def _js_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## JavaScript / TypeScript\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end != -1 else len(readme)]
    return re.findall(r"^```js\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


def test_readme_js_blocks_run_as_written(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    node_or_skip()
    blocks = _js_blocks()
    assert len(blocks) == 2, "the client example and the bare-fetch one"
    server = start_server(demo=True)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "aipod-api").symlink_to(JS_CLIENT, target_is_directory=True)
    outputs = []
    for number, block in enumerate(blocks):
        assert "http://localhost:5001" in block
        script = tmp_path / f"readme_{number}.mjs"
        script.write_text(block.replace("http://localhost:5001", server.base_url), "utf-8")
        result = run_node([script.name], cwd=tmp_path, env={"AIPOD_API_KEY": ""})
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stderr == ""
        outputs.append(result.stdout.splitlines())

    client_lines, fetch_lines = outputs
    # agents.list: the demo data has text_generation agents above 0.9 trust.
    total, names = client_lines[0].split(" ", 1)
    assert int(total) >= 1 and "'" in names, client_lines[0]
    # tasks.iterate printed every task in progress, then the typed error's fields.
    assert re.fullmatch(r"insufficient_funds 409 \d+(\.\d+)? 1000000 [0-9a-f]+", client_lines[-1])
    for line in client_lines[1:-1]:
        assert re.match(r"task_\d+ ", line), line
    assert len(client_lines) >= 3, "the demo data has a task in progress"
    code, count, first = fetch_lines[0].split(" ")
    assert (code, first) == ("0", "ai_analyst_001") and int(count) >= 5, fetch_lines
