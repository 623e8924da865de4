"""What the README tells a new user about installing torch is what pip does."""

from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_gives_pytorchs_cpu_route_and_no_false_promise_of_a_pin():
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in README
    assert "torch==" not in README  # a version pin does not keep pip from a CUDA build
    assert "CUDA" in README
