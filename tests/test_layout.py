"""The model library stands apart from the page: training runs where Streamlit is not installed.

`capsnet/` holds the library (models, training, data, preprocessing, inference, ...) and, in
`capsnet/page/`, the Streamlit page. The library never imports the page, and importing it
loads none of the page's libraries.
"""

import ast
import json
import subprocess
import sys

from conftest import ROOT

PAGE_PACKAGE = "capsnet.page"
PAGE_LIBRARIES = ("streamlit", "plotly", "streamlit_drawable_canvas")
LIBRARY = sorted(path for path in (ROOT / "capsnet").glob("*.py") if path.name != "__main__.py")
COMMANDS = [ROOT / "train.py"]  # the training command imports the library only


def module_name(path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imported_modules(path) -> set[str]:
    """Every module a source file imports, by its full dotted name (`from a import b` gives
    both `a` and `a.b`, since `b` may be a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_library_is_what_the_scan_covers():
    names = {module_name(path) for path in LIBRARY}
    assert {"capsnet", "capsnet.layers", "capsnet.inference", "capsnet.training",
            "capsnet.preprocess", "capsnet.drawn"} <= names
    assert not any(name.startswith(PAGE_PACKAGE) for name in names)
    assert (ROOT / "capsnet" / "page" / "__init__.py").is_file()


def test_no_library_module_imports_the_page():
    for path in [*LIBRARY, *COMMANDS]:
        found = sorted(name for name in imported_modules(path)
                       if name == PAGE_PACKAGE or name.startswith(PAGE_PACKAGE + "."))
        assert not found, f"{path.relative_to(ROOT)} imports {found}"


def test_the_scan_sees_the_pages_imports():
    """The page's own modules import each other: the scan that finds none in the library
    finds them there."""
    found = imported_modules(ROOT / "app.py")
    assert "capsnet.page.reading" in found and "streamlit" in found


def test_importing_the_library_loads_no_page_library():
    """Every library module, imported in a fresh interpreter, leaves Streamlit, plotly and the
    canvas component unloaded."""
    modules = [module_name(path) for path in LIBRARY]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {list(PAGE_LIBRARIES)!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing the library loaded {loaded}"
